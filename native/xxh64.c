/* xxh64.c: xxHash64 (seed-able), written from the public algorithm description. */
#include "internal.h"
#include "bench.h" /* the test hooks and C accessors defined here */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t round1(uint64_t acc, uint64_t input) {
    acc += input * P2;
    acc = rotl(acc, 31);
    return acc * P1;
}

static inline uint64_t merge(uint64_t acc, uint64_t val) {
    acc ^= round1(0, val);
    return acc * P1 + P4;
}

/* The last < 32 bytes and the avalanche. */
static inline uint64_t finish(uint64_t h, const uint8_t *p, const uint8_t *end) {
    while (p + 8 <= end) {
        h ^= round1(0, load_u64(p));
        h = rotl(h, 27) * P1 + P4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= (uint64_t)load_u32(p) * P1;
        h = rotl(h, 23) * P2 + P3;
        p += 4;
    }
    while (p < end) {
        h ^= (*p) * P5;
        h = rotl(h, 11) * P1;
        p++;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t spooky_xxh64(const uint8_t *p, size_t len, uint64_t seed) {
    const uint8_t *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        const uint8_t *limit = end - 32;
        do {
            v1 = round1(v1, load_u64(p));
            v2 = round1(v2, load_u64(p + 8));
            v3 = round1(v3, load_u64(p + 16));
            v4 = round1(v4, load_u64(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = merge(h, v1);
        h = merge(h, v2);
        h = merge(h, v3);
        h = merge(h, v4);
    } else {
        h = seed + P5;
    }
    return finish(h + (uint64_t)len, p, end);
}

/* Streaming form, for data written in pieces (the record-file footer). */
void xxh64_init(xxh64_state *s, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
    s->seed = seed;
}

void xxh64_update(xxh64_state *s, const uint8_t *p, size_t len) {
    s->total += len;
    if (s->fill + len < 32) {
        memcpy(s->mem + s->fill, p, len);
        s->fill += len;
        return;
    }
    const uint8_t *end = p + len;
    if (s->fill) {
        size_t take = 32 - s->fill;
        memcpy(s->mem + s->fill, p, take);
        for (int i = 0; i < 4; i++) s->v[i] = round1(s->v[i], load_u64(s->mem + 8 * i));
        p += take;
        s->fill = 0;
    }
    while (p + 32 <= end) {
        for (int i = 0; i < 4; i++) s->v[i] = round1(s->v[i], load_u64(p + 8 * i));
        p += 32;
    }
    s->fill = (size_t)(end - p);
    memcpy(s->mem, p, s->fill);
}

uint64_t xxh64_digest(const xxh64_state *s) {
    uint64_t h;
    if (s->total >= 32) {
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) + rotl(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = merge(h, s->v[i]);
    } else {
        h = s->seed + P5;
    }
    return finish(h + s->total, s->mem, s->mem + s->fill);
}

static uint64_t name_hash_mask = ~(uint64_t)0;

uint64_t spooky_name_hash(const uint8_t *name, size_t len) {
    return spooky_xxh64(name, len, 0) & __atomic_load_n(&name_hash_mask, __ATOMIC_RELAXED);
}

void spooky_test_set_name_hash_mask(uint64_t mask) {
    __atomic_store_n(&name_hash_mask, mask, __ATOMIC_RELAXED);
}
