/* gwadmin.h - a client of the gateway's admin API (bearer token): blocking calls for the CLI and
 * actions, and a non-blocking GET (libcurl multi) the console polls from its input loop. */
#ifndef OFFRAMP_GWADMIN_H
#define OFFRAMP_GWADMIN_H

#include <jansson.h>
#include <stdbool.h>

#include "store/store.h"

typedef struct {
   char *gateway;   /* base URL, no trailing slash */
   char *token;
   char *actor;     /* X-Offramp-Actor: who the gateway records for a change */
   long timeout_s;
} GwAdmin;

/* gateway NULL: $OFFRAMP_GATEWAY, else the workspace's gateway.url setting (offramp demo records
 * its gateway there), else http://127.0.0.1:8400; token_file NULL: $OFFRAMP_ADMIN_TOKEN, else the
 * workspace's gateway.admin_token_file. st may be NULL. false with *err saying how to give the token. */
bool GwAdmin_init(GwAdmin *a, Store *st, const char *gateway, const char *token_file, char **err);
void GwAdmin_clear(GwAdmin *a);

/* One call; the decoded JSON answer (an error body too, see *status), or NULL with *err. */
json_t *GwAdmin_call(const GwAdmin *a, const char *method, const char *path, const char *body, long *status,
                     char **err);
/* Like GwAdmin_call, but a non-200 answer is an error too: *err carries the gateway's message. */
json_t *GwAdmin_ok(const GwAdmin *a, const char *method, const char *path, const char *body, char **err);
/* The message of an OpenAI-style error body. */
const char *GwAdmin_error_message(const json_t *j);
/* Puts back the candidate (url, model, key) of revision rev of the task's route (0: the latest
 * earlier revision, not forced, that served another candidate), keeping the mode: a PUT the
 * gateway's gate check allows as a candidate that served before. The answer (a 409 when the gate
 * check refused it, see *status), or NULL with *err. */
json_t *GwAdmin_revert(const GwAdmin *a, const char *task, long rev, const char *reason, long *status, char **err);
/* offramp phase rollback: the phase goes back, and a route ahead of it comes back with it on
 * the running gateway (to shadow from canary or cutover when the phase keeps the candidate in
 * shadow or later, else to passthrough), through the gateway's rollback, which a gate never
 * refuses. A gateway that does not answer gets no change: it serves what the phase allows when
 * it next starts; *note (a new string, or NULL) says which happened. false with *err when the
 * phase could not go back. */
bool GwAdmin_phase_rollback(Store *st, const char *task, int to, const char *reason, char **note, char **err);
/* URL-escaped copy of s. */
char *GwAdmin_escape(const char *s);

/* A GET that never blocks: start it, then poll until it reports done. */
typedef struct GwFetch GwFetch;
GwFetch *GwFetch_start(const GwAdmin *a, const char *path);
/* Moves the transfer on without waiting. true when finished: *out is the JSON of a 200 answer,
 * else NULL with *err. */
bool GwFetch_poll(GwFetch *f, json_t **out, char **err);
void GwFetch_free(GwFetch *f);

#endif
