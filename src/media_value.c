/* media_value.c: the image()/audio() values and types, their template markers, and what models
 * take (media.h). No I/O: the readers (docs()) and the binder use it; media.c reads and sends.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "media.h"
#include "func.h"

/* ---- values ---- */

static pthread_once_t types_once = PTHREAD_ONCE_INIT;
static Type *types[3];

static void make_types(void)
{
    for (int k = 1; k <= 2; k++) {
        Type *t = type_struct_new(2);
        t->fields[0].name = xstrdup("path");
        t->fields[0].type = type_string();
        t->fields[1].name = xstrdup("mime");
        t->fields[1].type = type_string();
        t->name = xstrdup(k == MEDIA_IMAGE ? "image" : "audio");
        types[k] = t;   /* kept for the life of the process */
    }
}

Type *media_type(int kind)
{
    pthread_once(&types_once, make_types);
    return type_ref(types[kind == MEDIA_AUDIO ? MEDIA_AUDIO : MEDIA_IMAGE]);
}

int media_kind_of_type(const Type *t)
{
    if (!t || t->kind != TY_STRUCT || !t->name || t->nfields != 2 || strcmp(t->fields[0].name, "path")) return 0;
    return !strcmp(t->name, "image") ? MEDIA_IMAGE : !strcmp(t->name, "audio") ? MEDIA_AUDIO : 0;
}

int media_kind_of_value(Value v)
{
    return v.kind == V_STRUCT ? media_kind_of_type(v.u.st->type) : 0;
}

const char *media_kind_name(int kind) { return kind == MEDIA_AUDIO ? "audio" : "image"; }

int media_kind_of_path(const char *path, const char **mime)
{
    static const struct { const char *ext, *mime; int kind; } exts[] = {
        { "png", "image/png", MEDIA_IMAGE }, { "jpg", "image/jpeg", MEDIA_IMAGE }, { "jpeg", "image/jpeg", MEDIA_IMAGE },
        { "gif", "image/gif", MEDIA_IMAGE }, { "webp", "image/webp", MEDIA_IMAGE },
        { "wav", "audio/wav", MEDIA_AUDIO }, { "mp3", "audio/mpeg", MEDIA_AUDIO },
    };
    *mime = NULL;
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return 0;
    size_t n = strcspn(dot + 1, "?#");   /* URLs: the name before a query */
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strlen(exts[i].ext) == n && !strncasecmp(dot + 1, exts[i].ext, n)) { *mime = exts[i].mime; return exts[i].kind; }
    return 0;
}

Value media_value(int kind, const char *path)
{
    Type *t = media_type(kind);
    Value v = v_struct_new(t);
    type_unref(t);
    const char *mime;
    v.u.st->fields[0] = v_cstring(path);
    v.u.st->fields[1] = media_kind_of_path(path, &mime) == kind ? v_cstring(mime) : v_null();
    return v;
}

static Type *media_fn_type(Type **args, int nargs, char **msg, int kind)
{
    if (args[0]->kind != TY_STRING && args[0]->kind != TY_NULL && args[0]->kind != TY_ANY) {
        char *ts = type_to_string(args[0]);
        *msg = xasprintf("%s() takes the path or URL of %s file (a string), got %s", media_kind_name(kind),
                         kind == MEDIA_AUDIO ? "an audio" : "an image", ts);
        free(ts);
        return NULL;
    }
    return media_type(kind);
}
static Type *image_type_fn(Type **args, int nargs, char **msg) { return media_fn_type(args, nargs, msg, MEDIA_IMAGE); }
static Type *audio_type_fn(Type **args, int nargs, char **msg) { return media_fn_type(args, nargs, msg, MEDIA_AUDIO); }
static Value image_fn(const Value *args, int nargs, FuncCtx *ctx)
{
    return args[0].kind == V_STRING ? media_value(MEDIA_IMAGE, v_str(args[0])) : v_null();
}
static Value audio_fn(const Value *args, int nargs, FuncCtx *ctx)
{
    return args[0].kind == V_STRING ? media_value(MEDIA_AUDIO, v_str(args[0])) : v_null();
}

/* A media value as the marker of a template: the binder renders {{col}} of a media column with it. */
static Type *marker_type_fn(Type **args, int nargs, char **msg) { return type_string(); }
static Value marker_fn(const Value *args, int nargs, FuncCtx *ctx)
{
    if (!media_kind_of_value(args[0])) return v_null();
    char *s = media_marker(args[0]);
    Value v = v_cstring(s);
    free(s);
    return v;
}

const FuncDef func_media_defs[] = {
    { "image", 1, { "path" }, 1, FUNC_NULL_IN_NULL_OUT, image_type_fn, image_fn,
      "image(path) -> image: an image file (local path, https://, s3://, hf://) for the semantic operators; read when a request needs it", NULL },
    { "audio", 1, { "path" }, 1, FUNC_NULL_IN_NULL_OUT, audio_type_fn, audio_fn,
      "audio(path) -> audio: a WAV or MP3 file (local path, https://, s3://, hf://) for the semantic operators; read when a request needs it", NULL },
    { "__attach", 1, { "media" }, 1, FUNC_NULL_IN_NULL_OUT, marker_type_fn, marker_fn,
      "__attach(m) -> string: how a template carries a medium to a semantic operator (internal)", NULL },
    { 0 }
};

/* ---- markers ---- */

#define MARK '\x1e'

char *media_marker(Value v)
{
    Struct *st = v.u.st;
    json_t *j = json_pack("{s:s, s:s}", "kind", st->type->name, "path", v_str(st->fields[0]));
    if (st->fields[1].kind == V_STRING) json_object_set_new(j, "mime", json_string(v_str(st->fields[1])));
    char *js = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *s = xasprintf("%c%s%c", MARK, js, MARK);
    free(js);
    return s;
}

int media_has_marker(const char *text)
{
    const char *a = text ? strchr(text, MARK) : NULL;
    return a && a[1] == '{' && strchr(a + 1, MARK);
}

/* ---- what models take ---- */

int media_caps(const char *provider, int embedding, json_t *entry, Value opts)
{
    if (embedding || !strcmp(provider, "cohere")) return 0;
    int anthropic = !strcmp(provider, "anthropic");
    int caps = anthropic ? MEDIA_IMAGE : MEDIA_IMAGE | MEDIA_AUDIO;
    if (entry) caps = (json_is_true(json_object_get(entry, "vision")) ? MEDIA_IMAGE : 0)
                    | (json_is_true(json_object_get(entry, "audio")) ? MEDIA_AUDIO : 0);
    if (opts.kind == V_STRUCT) {
        Struct *st = opts.u.st;
        for (uint32_t i = 0; i < st->n; i++) {
            const char *k = st->type->fields[i].name;
            int bit = !strcmp(k, "vision") ? MEDIA_IMAGE : !strcmp(k, "audio") ? MEDIA_AUDIO : 0;
            if (bit && st->fields[i].kind == V_BOOL) caps = st->fields[i].u.b ? caps | bit : caps & ~bit;
        }
    }
    if (anthropic) caps &= ~MEDIA_AUDIO;
    return caps;
}

int media_caps_decl(const char *stdlib_dir, const char *provider, const char *model_name, int embedding, Value opts)
{
    json_t *cat = NULL;
    if (stdlib_dir) {
        char *path = xasprintf("%s/models.json", stdlib_dir);
        cat = json_load_file(path, 0, NULL);
        free(path);
    }
    json_t *models = json_object_get(cat, "models");
    json_t *e = json_object_get(json_object_get(models, provider), model_name);
    const char *slash = strchr(model_name, '/');
    if (!e && !strcmp(provider, "openrouter") && slash) {   /* "openai/gpt-4o": the maker's entry */
        char *maker = xstrndup(model_name, (size_t)(slash - model_name));
        e = json_object_get(json_object_get(models, !strcmp(maker, "google") ? "gemini" : maker), slash + 1);
        free(maker);
    }
    int caps = media_caps(provider, embedding, e, opts);
    json_decref(cat);
    return caps;
}

char *media_refusal(const char *alias, const char *provider, const char *model_name, int caps, int kinds)
{
    int lack = kinds & ~caps;
    if (!lack) return NULL;
    const char *what = lack & MEDIA_IMAGE ? "images" : "audio";
    if (!strcmp(provider, "anthropic") && (lack & MEDIA_AUDIO))
        return xasprintf("model '%s' (anthropic \"%s\") cannot take audio: Anthropic's Messages API has no audio input; "
                         "use a Gemini model or an audio-capable OpenAI model (e.g. gpt-4o-audio-preview)", alias, model_name);
    const char *opt = lack & MEDIA_IMAGE ? "vision" : "audio";
    return xasprintf("model '%s' (%s \"%s\") cannot take %s (the model catalog, or the declaration's `%s:` option, says so); "
                     "use a model that does, or declare it with `%s: true` if it does", alias, provider, model_name, what, opt, opt);
}

