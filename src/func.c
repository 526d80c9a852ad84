/* func.c: what every table of built-in functions shares (func.h). */
#include <stdarg.h>
#include "func.h"

Value func_error(FuncCtx *c, const char *fmt, ...)
{
    if (c && !c->error) {
        va_list ap;
        va_start(ap, fmt);
        c->error = xvasprintf(fmt, ap);
        va_end(ap);
    }
    return v_null();
}

void func_ctx_done(FuncCtx *ctx)
{
    if (ctx->scratch && ctx->scratch_free) ctx->scratch_free(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_free = NULL;
}
