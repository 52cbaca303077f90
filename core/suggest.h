/*
 * "Did you mean" suggestions: the closest candidate to a misspelt word by edit distance.
 */
#ifndef GPUFORM_CORE_SUGGEST_H
#define GPUFORM_CORE_SUGGEST_H

#include <stddef.h>

/*
 * Optimal-string-alignment distance between a and b (adjacent swaps count 1), compared
 * case-insensitively, capped: returns at most `cap` + 1.
 */
size_t core_edit_distance(const char *a, const char *b, size_t cap);

/*
 * The candidate closest to `word`, or NULL when none is close enough (distance at most a
 * third of the word's length, at least 1; a case-only difference always counts). Ties go to
 * the earlier candidate. Returns a pointer into `candidates`.
 */
const char *core_suggest(const char *word, const char *const *candidates, size_t n);

#endif
