/* cache.h: the response cache's request keys. A key is the SHA-256 (hex) of the provider, the model,
 * the base URL, the request URL and the request body, so identical requests to one endpoint share
 * an answer; it never holds an API key (keys travel in headers, which are not hashed). */
#ifndef FQL_CACHE_H
#define FQL_CACHE_H

#include "runtime.h"

/* The key of r on m into out. 0, or -1 with *msg (malloc'd) when the request cannot be built. */
int  cache_request_key(LmModel *m, const LmRequest *r, char out[65], char **msg);
/* The same key from the request h already built for m. */
void cache_http_key(const LmModel *m, const HttpRequest *h, char out[65]);

#endif
