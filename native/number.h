/* number.h: numbers by value (internal), one comparison for every caller:
 * filter's predicates (`age >= 30`) and diff's tolerances. i64, u64 and
 * f64 in any combination, exactly: no integer is rounded to a double to be
 * compared. number.c. */
#ifndef SPOOKY_NUMBER_H
#define SPOOKY_NUMBER_H

#include "internal.h"

#define NUMBER_UNORDERED 2 /* a comparison with NaN */

static inline int is_number(uint8_t tag) {
    return tag == SPOOKY_I64 || tag == SPOOKY_U64 || tag == SPOOKY_F64;
}

/* -1, 0, 1, or NUMBER_UNORDERED: two numbers (tag and 8 value bytes each)
 * by value, exactly. */
int cmp_numbers(uint8_t ta, const uint8_t *a, uint8_t tb, const uint8_t *b);

/* A tolerance: numbers a and b are close when |a-b| <= abs or
 * |a-b| <= rel * max(|a|, |b|) (both finite, >= 0). */
typedef struct {
    double abs, rel;
} number_tolerance;

/* Whether two numbers are equal by value or close. Between two integers,
 * or an integer and a float of integral value (every float beyond 2^53 is
 * one), |a-b| and rel * max(|a|,|b|) are exact at any size (no rounding);
 * otherwise both are doubles (an integer beyond 2^53 rounded to the
 * nearest) and the arithmetic is double's. */
int numbers_close(uint8_t ta, const uint8_t *a, uint8_t tb, const uint8_t *b,
                  const number_tolerance *tol);

#endif
