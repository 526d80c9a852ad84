/* shared_test.c: unit tests of the shared state's pieces that need no Redis (shared.c): the URL
 * forms accepted and refused (with messages that never hold the password), the URL as printed,
 * and the key names (a hash of the API key, never the key; one name per provider, address, key
 * and model). Prints `ok NAME` or `FAIL NAME: reason` per test and `N passed, M failed`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shared.h"
#include "check.h"

/* The printed form of url, or "ERR: message" when refused. Returns a new string. */
static char *display(const char *url)
{
    char *err = NULL;
    SharedConn *c = shared_open(url, &err);
    if (!c) {
        char *r = xasprintf("ERR: %s", err ? err : "(no message)");
        free(err);
        return r;
    }
    char *r = xstrdup(shared_url(c));
    shared_close(c);
    return r;
}

static void test_forms(void)
{
    static const char *const cases[][2] = {
        { "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0" },
        { "redis://localhost", "redis://localhost:6379/0" },
        { "REDIS://cache.internal:7000/3", "redis://cache.internal:7000/3" },
        { "redis://h:1/", "redis://h:1/0" },
        { "redis://[::1]:6380/2", "redis://[::1]:6380/2" },
        { "redis://:pw@h:1/0", "redis://h:1/0" },
        { "redis://user:pw@h:1/0", "redis://h:1/0" },
        { "redis://pw@h/0", "redis://h:6379/0" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = display(cases[i][0]);
        CHECK(!strcmp(d, cases[i][1]), "%s printed as [%s], want [%s]", cases[i][0], d, cases[i][1]);
        free(d);
    }
}

static void test_refused(void)
{
    static const char *const cases[][2] = {
        { "http://h:1/0", "unsupported address scheme 'http://'" },
        { "127.0.0.1:6379", "not a Redis URL" },
        { "redis://", "names no host" },
        { "redis://h:0/0", "port must be a number from 1 to 65535" },
        { "redis://h:65536/0", "port must be a number" },
        { "redis://h:12ab/0", "port must be a number" },
        { "redis://h:1/x", "database after the host must be a number" },
        { "redis://[::1/0", "closing ']'" },
        { "redis://:s3cretpw@h:99999/0", "port must be a number" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = display(cases[i][0]);
        CHECK(!strncmp(d, "ERR: ", 5) && strstr(d, cases[i][1]), "%s: [%s], want a refusal saying [%s]", cases[i][0], d, cases[i][1]);
        CHECK(!strstr(d, "s3cretpw"), "the message shows the password: %s", d);
        CHECK(strstr(d, "expected redis://HOST:PORT/DB"), "%s: the message does not show the form: %s", cases[i][0], d);
        char *err = NULL;
        CHECK(shared_parse_check(cases[i][0], &err) == -1 && err, "shared_parse_check accepted %s", cases[i][0]);
        free(err);
        free(d);
    }
    char *err = NULL;
    CHECK(shared_parse_check("redis://h:1/0", &err) == 0 && !err, "shared_parse_check refused a good URL");
}

static void test_keys(void)
{
    LmModel a;
    memset(&a, 0, sizeof a);
    a.provider_name = "openai";
    a.base_url = "https://api.openai.com/v1";
    a.api_key = "sk-proj-abcdefghijklmnop";
    a.model_name = "gpt-4o-mini";
    LmModel b = a;
    char *k1 = shared_key(&a, "lim"), *k2 = shared_key(&b, "lim");
    CHECK(!strcmp(k1, k2), "one key, one name: %s vs %s", k1, k2);
    CHECK(!strstr(k1, "abcdefghijklmnop") && !strstr(k1, "sk-proj"), "the key name holds the API key: %s", k1);
    CHECK(!strncmp(k1, "fql:{", 5) && strstr(k1, ":gpt-4o-mini}:lim"), "key name %s", k1);
    CHECK(strlen(k1) == strlen("fql:{0123456789abcdef:gpt-4o-mini}:lim"), "key name %s: 16 hex digits of hash", k1);
    free(k2);
    b.api_key = "sk-proj-abcdefghijklmnoq";   /* another key: another quota */
    k2 = shared_key(&b, "lim");
    CHECK(strcmp(k1, k2), "two keys share a name: %s", k1);
    free(k2);
    b = a;
    b.base_url = "https://proxy.example/v1";  /* another address: another quota */
    k2 = shared_key(&b, "lim");
    CHECK(strcmp(k1, k2), "two addresses share a name: %s", k1);
    free(k2);
    b = a;
    b.model_name = "gpt-4o";
    k2 = shared_key(&b, "lim");
    CHECK(strcmp(k1, k2) && strstr(k2, ":gpt-4o}:lim"), "two models share a name: %s %s", k1, k2);
    free(k2);
    free(k1);
}

int main(void)
{
    run("url_forms", test_forms);
    run("url_refused", test_refused);
    run("key_names", test_keys);
    return check_summary();
}
