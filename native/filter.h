/* filter.h: a compiled expression (spooky_filter_spec) tested on records
 * one at a time by other walks (diff --where), internal. filter.c. */
#ifndef SPOOKY_FILTER_H
#define SPOOKY_FILTER_H

#include "internal.h"
#include "file.h"

/* The expression's fields resolved per schema, for one stream of records
 * (one per file: schemas differ between files). */
typedef struct {
    const spooky_filter_spec *spec;
    resolved_schema fields;
} filter_matcher;

/* SPOOKY_E_ARG when the program is not well formed. */
int filter_matcher_init(filter_matcher *m, const spooky_filter_spec *spec);
/* Whether a valid record matches (*match 0/1). */
int filter_matcher_test(filter_matcher *m, const uint8_t *rec, uint32_t len, int *match);
void filter_matcher_free(filter_matcher *m);

#endif
