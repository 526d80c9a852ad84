/* cache.c: request keys of the response cache (cache.h). */
#include <string.h>
#include "cache.h"
#include "provider.h"
#include "state.h"

void cache_http_key(const LmModel *m, const HttpRequest *h, char out[65])
{
    const char *parts[] = { m->provider_name, m->model_name, m->base_url, h->url, h->body ? h->body : "" };
    state_hash(out, parts, 5);
}

int cache_request_key(LmModel *m, const LmRequest *r, char out[65], char **msg)
{
    HttpRequest h;
    memset(&h, 0, sizeof h);
    if (m->provider == PROV_VERTEX && vertex_access_token(m, NULL, msg)) return -1;
    if (provider_build(m, r, &h, msg)) { http_request_free(&h); return -1; }
    cache_http_key(m, &h, out);
    http_request_free(&h);
    return 0;
}
