/* media.h: images and audio as values of the semantic operators (media.c).
 *
 * `image(PATH_OR_URL)` and `audio(PATH_OR_URL)` make a value of the struct type named `image` or
 * `audio`: {path: string, mime: string} (mime from the file name's extension, null when it says
 * nothing). The value only says where the medium is: nothing is read when it is made. The bytes
 * are read when a request needs them, once per process: media_load keeps each file's content,
 * SHA-256, pixel size or duration in a memo keyed by the path (a local file is read again when its
 * modification time or size changed), and the versions prepared for each provider's size limits.
 *
 * In a request a medium is a part after the text (LmRequest.images; an audio part has the mime type
 * audio/wav or audio/mpeg): its bytes go on the wire, never its path, so the response cache's key (a hash of the
 * request body) follows the content. Inside a template, `{{col}}` of a media column is rendered as
 * a marker (media_marker) that semantic.c turns back into the part and the text "[image N]".
 *
 * Thread safety: the memo is shared by every session of the process and guarded by a mutex.
 */
#ifndef FQL_MEDIA_H
#define FQL_MEDIA_H

#include <jansson.h>
#include "value.h"
#include "runtime.h"

enum { MEDIA_IMAGE = 1, MEDIA_AUDIO = 2 };

/* The type of image() (kind MEDIA_IMAGE) or audio() values: a new reference to a struct type named
 * "image" or "audio" with fields path and mime. */
Type *media_type(int kind);
/* MEDIA_IMAGE / MEDIA_AUDIO when t (or v) is such a type (value), else 0. */
int   media_kind_of_type(const Type *t);
int   media_kind_of_value(Value v);
/* "image" or "audio". */
const char *media_kind_name(int kind);
/* The value for the file at path (copied); mime by extension or null. New value. */
Value media_value(int kind, const char *path);
/* The kind and mime type the extension of path says, or 0 (and *mime NULL). */
int   media_kind_of_path(const char *path, const char **mime);

/* ---- templates ---- */

/* The marker standing for media value v inside a rendered template: "\x1e" JSON "\x1e". New string. */
char *media_marker(Value v);
/* Does text hold a marker? */
int   media_has_marker(const char *text);

/* ---- what models take ---- */

/* The media kinds (bits) a model takes: the catalog entry's "vision" and "audio" flags (entry may
 * be NULL: a model the catalog does not know takes what its provider's API does), overridden by
 * the declaration's `vision:` / `audio:` options (opts, a struct value or null). Anthropic takes no
 * audio whatever the options say; embedding models and Cohere take none. */
int   media_caps(const char *provider, int embedding, json_t *entry, Value opts);
/* The same at bind time, reading the catalog from stdlib_dir/models.json. */
int   media_caps_decl(const char *stdlib_dir, const char *provider, const char *model_name, int embedding, Value opts);
/* Why model `alias` (provider, model_name) cannot take the media kinds `kinds` that caps lacks, for
 * an error: a new string, or NULL when it takes them all. */
char *media_refusal(const char *alias, const char *provider, const char *model_name, int caps, int kinds);

/* ---- parts of a request ---- */

/* Turn user text (consumed) holding markers into the request's text: each marker becomes
 * "[image N]" / "[audio N]" and its medium a part of r, prepared for m. The value v (not null),
 * when a medium, is the request's whole input: the text is "[image 1]". Returns the new text, or
 * NULL with *err (xasprintf'd: the file cannot be read, is not an image, is too large for the
 * provider). *kinds gets the kinds attached. */
char *media_attach(const LmModel *m, LmRequest *r, char *text, Value v, int *kinds, char **err);
/* Estimated input tokens of medium part p sent to m (OpenAI's tiles, Anthropic's pixels/750,
 * Gemini's 258 per tile and 32 per second of audio). Set by media_attach in LmImage.tokens. */

/* ---- the memo, for tests and explain ---- */

/* Read the medium at path once (local, https, s3, hf): 0 with its SHA-256 (hex), size in bytes,
 * pixel size (images) and seconds (audio); -1 with *err. */
int   media_info(const char *path, int kind, char sha256[65], int64_t *bytes, int *width, int *height, double *seconds, char **err);

#endif
