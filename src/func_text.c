/* func_text.c: text functions: the exact BPE tokenizer and markdown helpers. */
#include "func.h"

const FuncDef func_text_defs[] = {
    { NULL, 0, { NULL }, 0, 0, NULL, NULL, NULL }
};
