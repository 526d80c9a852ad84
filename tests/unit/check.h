/* check.h: the small harness shared by the C unit tests. Each test is a void function run by
 * run(NAME, fn); CHECK(cond, fmt, ...) records the first failure of a test with its line. The
 * runner prints "ok NAME" or "FAIL NAME: reason" per test and check_summary() prints the closing
 * line "N passed, M failed" and gives the exit status. */
#ifndef FQL_UNIT_CHECK_H
#define FQL_UNIT_CHECK_H

#include <stdio.h>

static int npass, nfail, failed;
static char reason[4096];

#define CHECK(cond, ...) do { \
        if (!(cond) && !failed) { \
            int k_ = snprintf(reason, sizeof reason, "line %d: ", __LINE__); \
            snprintf(reason + k_, sizeof reason - (size_t)k_, __VA_ARGS__); \
            failed = 1; \
        } \
    } while (0)

static void run(const char *name, void (*fn)(void))
{
    failed = 0;
    fn();
    if (failed) { printf("FAIL %s: %s\n", name, reason); nfail++; }
    else { printf("ok %s\n", name); npass++; }
}

static int check_summary(void)
{
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail != 0;
}

#endif
