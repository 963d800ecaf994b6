/*
 * main.c — runs every conformance group against the backend this binary
 * was linked with. Usage: test_conformance [cmocka-test-filter]
 *   e.g. ./build/epoll/test_conformance 'test_timer*'
 * VEX_TEST_WATCHDOG_S (default 60) bounds each test even if a library call
 * never returns.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    h_global_init();
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (getenv("VEX_TEST_SKIP"))
        cmocka_set_skip_filter(getenv("VEX_TEST_SKIP"));

    char why[256] = "";
    if (!vex_backend_available(why, sizeof why)) {
        fprintf(stderr, "backend %s is not available here: %s\n",
                vex_backend_name(), why);
        return 77;              /* automake's "skipped" */
    }
    printf("vex_net conformance suite, backend %s\n", vex_backend_name());

    int failed = 0;
    failed += h_group_loop();
    failed += h_group_misuse();
    failed += h_group_accept();
    failed += h_group_peer();
    failed += h_group_io();
    failed += h_group_sendfile();
    failed += h_group_lifecycle();
    failed += h_group_timers();
    failed += h_group_scale();
    failed += h_group_uring();

    printf("conformance (%s): %s, %d failed test(s)\n", vex_backend_name(),
           failed ? "FAILED" : "PASSED", failed);
    return failed ? 1 : 0;
}
