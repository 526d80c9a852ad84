/* provider_anthropic.c: placeholder (being written). */
#include "provider.h"

int anthropic_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err)
{
    *err = xasprintf("the %s adapter is not written yet", "anthropic");
    return -1;
}

int anthropic_build_key_check(const LmModel *m, HttpRequest *out, char **err)
{
    *err = xasprintf("the %s adapter is not written yet", "anthropic");
    return -1;
}

void anthropic_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                const char *body, size_t body_len, LmAnswer *out)
{
    answer_set(out, LM_FATAL, "unsupported", "the %s adapter is not written yet", "anthropic");
}
