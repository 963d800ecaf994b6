/* fuzz_check.h — the one invariant check the fuzz targets share: print
 * where, then stop the way libFuzzer records as a crash with an input. */
#ifndef VEX_FUZZ_CHECK_H
#define VEX_FUZZ_CHECK_H

#include <stdio.h>

#define CHECK(cond) do {                                                 \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            __builtin_trap();                                           \
        }                                                               \
    } while (0)

#endif
