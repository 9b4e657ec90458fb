/* clientkeys.h - the gateway's client keys (--client-keys FILE): who may use the data plane on
 * the operator's upstream key, and for which tasks. The file holds hashes only. */
#ifndef OFFRAMP_CLIENTKEYS_H
#define OFFRAMP_CLIENTKEYS_H

#include <stdbool.h>

typedef struct {
   char hash[65];     /* sha256 of the key, lower-case hex */
   char **tasks;      /* tasks the key may call; NULL = every task ("*") */
   int n_tasks;
   int line;          /* where it is in the file, for logs */
} ClientKey;

typedef struct {
   ClientKey *keys;
   int n;
} ClientKeys;

/* Reads FILE: one key a line, "sha256:HEX [TASKS]" where TASKS is "*" (the default) or a
 * comma-separated list of task names; blank lines and lines starting with '#' are skipped.
 * False with *err naming the line and the fix. */
bool ClientKeys_load(ClientKeys *ck, const char *path, char **err);
void ClientKeys_clear(ClientKeys *ck);
/* The entry whose hash is the SHA-256 of key, or NULL. */
const ClientKey *ClientKeys_find(const ClientKeys *ck, const char *key);
/* Whether the key may call task (NULL: traffic attributed to no task, which only a "*" key may
 * send). */
bool ClientKey_allows(const ClientKey *k, const char *task);
/* A deep copy, for whoever keeps a key past the request (the key file may be reloaded). */
ClientKey *ClientKey_copy(const ClientKey *k);
void ClientKey_free(ClientKey *k);
/* "task1, task2" or "every task", for error messages. A new string. */
char *ClientKey_tasks_text(const ClientKey *k);

#endif
