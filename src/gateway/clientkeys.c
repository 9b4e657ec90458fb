/* clientkeys.c - client key file parsing and lookup. Keys are compared by their SHA-256 so the
 * file (and a memory dump) never holds a usable key. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sha256.h"
#include "common/taskname.h"
#include "common/util.h"
#include "gateway/clientkeys.h"

static bool is_hex64(const char *s, size_t n) {
   if (n != 64)
      return false;
   for (size_t i = 0; i < n; i++) {
      char c = s[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
         return false;
   }
   return true;
}

static void key_clear(ClientKey *k) {
   for (int i = 0; i < k->n_tasks; i++)
      free(k->tasks[i]);
   free(k->tasks);
}

/* One line, trimmed and not a comment, into k. */
static bool parse_line(char *line, ClientKey *k, const char *path, int lineno, char **err) {
   memset(k, 0, sizeof *k);
   k->line = lineno;
   char *sp = line + strcspn(line, " \t");
   char *rest = *sp ? sp + 1 : sp;
   *sp = '\0';
   rest += strspn(rest, " \t");
   if (!str_startswith(line, "sha256:") || !is_hex64(line + 7, strlen(line + 7))) {
      *err = xasprintf("%s:%d: a key line is 'sha256:HEX [TASKS]' with the key's 64-digit SHA-256 (make it with "
                       "printf %%s \"$KEY\" | sha256sum); keys themselves are never written in the file",
                       path, lineno);
      return false;
   }
   for (int i = 0; i < 64; i++) {
      char c = line[7 + i];
      k->hash[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
   }
   if (!*rest || str_eq(rest, "*"))
      return true;
   if (strpbrk(rest, " \t")) {
      *err = xasprintf("%s:%d: the task list '%s' has blanks: write task1,task2 (or * for every task)", path, lineno,
                       rest);
      return false;
   }
   char *save = NULL;
   for (char *t = strtok_r(rest, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *terr = NULL;
      if (!Task_name_valid(t, &terr)) {
         *err = xasprintf("%s:%d: %s", path, lineno, terr);
         free(terr);
         key_clear(k);
         return false;
      }
      k->tasks = xrealloc(k->tasks, (size_t)(k->n_tasks + 1) * sizeof *k->tasks);
      k->tasks[k->n_tasks++] = xstrdup(t);
   }
   if (!k->n_tasks) {
      *err = xasprintf("%s:%d: the task list is empty: write task1,task2 or *", path, lineno);
      return false;
   }
   return true;
}

bool ClientKeys_load(ClientKeys *ck, const char *path, char **err) {
   memset(ck, 0, sizeof *ck);
   FILE *fp = fopen(path, "r");
   if (!fp) {
      *err = xasprintf("cannot read the client keys file %s: %s", path, strerror(errno));
      return false;
   }
   char *line = NULL;
   size_t cap = 0;
   int lineno = 0;
   bool ok = true;
   while (ok && getline(&line, &cap, fp) >= 0) {
      lineno++;
      char *s = str_trim(line);
      if (!*s || *s == '#')
         continue;
      ClientKey k;
      ok = parse_line(s, &k, path, lineno, err);
      for (int i = 0; ok && i < ck->n; i++) {
         if (str_eq(ck->keys[i].hash, k.hash)) {
            *err = xasprintf("%s:%d: the same key as line %d (give each client its own key)", path, lineno,
                             ck->keys[i].line);
            key_clear(&k);
            ok = false;
         }
      }
      if (ok) {
         ck->keys = xrealloc(ck->keys, (size_t)(ck->n + 1) * sizeof *ck->keys);
         ck->keys[ck->n++] = k;
      }
   }
   free(line);
   fclose(fp);
   if (ok && ck->n == 0) {
      *err = xasprintf("the client keys file %s holds no key (one 'sha256:HEX [TASKS]' a line)", path);
      ok = false;
   }
   if (!ok)
      ClientKeys_clear(ck);
   return ok;
}

void ClientKeys_clear(ClientKeys *ck) {
   for (int i = 0; i < ck->n; i++)
      key_clear(&ck->keys[i]);
   free(ck->keys);
   memset(ck, 0, sizeof *ck);
}

ClientKey *ClientKey_copy(const ClientKey *k) {
   ClientKey *c = xcalloc(1, sizeof *c);
   *c = *k;
   c->tasks = NULL;
   if (k->tasks) {
      c->tasks = xcalloc((size_t)k->n_tasks + 1, sizeof *c->tasks);
      for (int i = 0; i < k->n_tasks; i++)
         c->tasks[i] = xstrdup(k->tasks[i]);
   }
   return c;
}

void ClientKey_free(ClientKey *k) {
   if (!k)
      return;
   key_clear(k);
   free(k);
}

const ClientKey *ClientKeys_find(const ClientKeys *ck, const char *key) {
   Sha256 s;
   char hex[65];
   Sha256_init(&s);
   Sha256_update(&s, key, strlen(key));
   Sha256_final_hex(&s, hex);
   const ClientKey *found = NULL;
   /* Every entry compared in full: the time taken says nothing about which one matched. */
   for (int i = 0; i < ck->n; i++) {
      unsigned char diff = 0;
      for (int j = 0; j < 64; j++)
         diff |= (unsigned char)(hex[j] ^ ck->keys[i].hash[j]);
      if (!diff)
         found = &ck->keys[i];
   }
   return found;
}

bool ClientKey_allows(const ClientKey *k, const char *task) {
   if (!k->tasks)
      return true;
   for (int i = 0; task && i < k->n_tasks; i++) {
      if (str_eq(k->tasks[i], task))
         return true;
   }
   return false;
}

char *ClientKey_tasks_text(const ClientKey *k) {
   if (!k->tasks)
      return xstrdup("every task");
   Sbuf b = { 0 };
   for (int i = 0; i < k->n_tasks; i++)
      Sbuf_printf(&b, "%s%s", i ? ", " : "", k->tasks[i]);
   return Sbuf_steal(&b);
}
