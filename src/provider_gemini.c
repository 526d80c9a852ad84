/* provider_gemini.c: placeholder (being written). */
#include "provider.h"

int gemini_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err)
{
    *err = xasprintf("the %s adapter is not written yet", "gemini");
    return -1;
}

int gemini_build_key_check(const LmModel *m, HttpRequest *out, char **err)
{
    *err = xasprintf("the %s adapter is not written yet", "gemini");
    return -1;
}

void gemini_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                const char *body, size_t body_len, LmAnswer *out)
{
    answer_set(out, LM_FATAL, "unsupported", "the %s adapter is not written yet", "gemini");
}
int vertex_access_token(LmModel *m, char **token, char **err) { *err = xasprintf("not yet"); if (token) *token = 0; return -1; }
