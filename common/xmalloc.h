/*
 * xmalloc.h - checked allocation helpers. Out of memory is fatal: a daemon
 * that cannot allocate a few bytes cannot keep its promises anyway.
 */
#ifndef VAKT_XMALLOC_H
#define VAKT_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
int xasprintf(char **ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
