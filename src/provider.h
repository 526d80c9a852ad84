/* provider.h: each wire protocol's entry points (provider_{openai,anthropic,gemini,cohere}.c),
 * called by the dispatch in provider.c. The helpers the adapters share are in provider_wire.h.
 * Layers: provider.c → provider_*.c → provider_wire.c. Internal to the adapters, batch.c and
 * their unit test.
 */
#ifndef FQL_PROVIDER_H
#define FQL_PROVIDER_H

#include "provider_wire.h"

/* ---- one set per wire protocol (same contracts as provider_build / _key_check / _parse) ---- */

int  openai_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err);
int  openai_build_key_check(const LmModel *m, HttpRequest *out, char **err);
void openai_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                  const char *body, size_t body_len, LmAnswer *out);

int  anthropic_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err);
int  anthropic_build_key_check(const LmModel *m, HttpRequest *out, char **err);
void anthropic_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                     const char *body, size_t body_len, LmAnswer *out);

int  gemini_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err);
int  gemini_build_key_check(const LmModel *m, HttpRequest *out, char **err);
void gemini_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                  const char *body, size_t body_len, LmAnswer *out);

int  cohere_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err);
int  cohere_build_key_check(const LmModel *m, HttpRequest *out, char **err);
void cohere_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                  const char *body, size_t body_len, LmAnswer *out);

#endif
