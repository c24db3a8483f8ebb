/*
 * callgrind_dump.h - BENCH_DUMP(part): under callgrind, dumps the counters
 * so far as one part (setup, timed, ...), so that a script counts a
 * benchmark's timed phase on its own; nothing without valgrind's header.
 */
#ifndef VAKT_BENCH_CALLGRIND_DUMP_H
#define VAKT_BENCH_CALLGRIND_DUMP_H

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_DUMP(part) CALLGRIND_DUMP_STATS_AT(part)
#endif
#endif
#ifndef BENCH_DUMP
#define BENCH_DUMP(part) ((void)0)
#endif

#endif
