/* http_probe.c - a tiny HTTP client for the trainer tests (curl + jq in one, from build
 * dependencies only). Prints the status code, then the value at each --get PATH of the JSON
 * answer (dot-separated keys, numbers index arrays; strings raw, other values as JSON), or the
 * whole body without --get. A --get of "header:NAME" prints that response header's value.
 * Usage: http_probe METHOD URL [--json BODY | --json-file F | --form FILE [--purpose P] [--filename NAME]]
 *                   [--bearer TOKEN] [--get PATH]...
 * --bearer sends "Authorization: Bearer TOKEN"; $HTTP_PROBE_TOKEN does the same when set. */
#include "config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

static size_t on_body(char *d, size_t s, size_t n, void *arg) {
   Sbuf_add(arg, d, s * n);
   return s * n;
}

static size_t on_header(char *d, size_t s, size_t n, void *arg) {
   Sbuf_add(arg, d, s * n);
   return s * n;
}

/* The value of response header name (the last response's), or "(missing)"; caller frees. */
static char *header_value(const char *headers, const char *name) {
   size_t n = strlen(name);
   for (const char *l = headers ? headers : ""; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
      if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
         const char *v = l + n + 1;
         v += strspn(v, " \t");
         return xstrndup(v, strcspn(v, "\r\n"));
      }
   }
   return xstrdup("(missing)");
}

static json_t *walk(json_t *v, const char *path) {
   char *copy = xstrdup(path);
   for (char *save = NULL, *k = strtok_r(copy, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
      long i;
      v = json_is_array(v) && parse_long(k, &i) ? json_array_get(v, (size_t)i) : json_object_get(v, k);
   }
   free(copy);
   return v;
}

int main(int argc, char **argv) {
   if (argc < 3)
      die(2, "usage: http_probe METHOD URL [--json BODY | --json-file F | --form FILE [--purpose P]] [--get PATH]...");
   curl_global_init(CURL_GLOBAL_DEFAULT);
   CURL *c = curl_easy_init();
   struct curl_slist *h = NULL;
   curl_mime *mime = NULL;
   const char *form = NULL, *purpose = "fine-tune", *filename = NULL, *bearer = getenv("HTTP_PROBE_TOKEN");
   char *json = NULL;
   int nget = 0;
   const char *gets[32];
   for (int i = 3; i < argc; i++) {
      if (str_eq(argv[i], "--json") && i + 1 < argc) {
         json = xstrdup(argv[++i]);
      } else if (str_eq(argv[i], "--json-file") && i + 1 < argc) {
         char *err = NULL;
         json = read_file(argv[++i], NULL, &err);
         if (!json)
            die(2, "%s", err);
      } else if (str_eq(argv[i], "--form") && i + 1 < argc) {
         form = argv[++i];
      } else if (str_eq(argv[i], "--purpose") && i + 1 < argc) {
         purpose = argv[++i];
      } else if (str_eq(argv[i], "--filename") && i + 1 < argc) {
         filename = argv[++i];
      } else if (str_eq(argv[i], "--bearer") && i + 1 < argc) {
         bearer = argv[++i];
      } else if (str_eq(argv[i], "--get") && i + 1 < argc && nget < 32) {
         gets[nget++] = argv[++i];
      } else {
         die(2, "http_probe: unknown argument %s", argv[i]);
      }
   }
   char *auth = bearer && *bearer ? xasprintf("Authorization: Bearer %s", bearer) : NULL;
   if (auth)
      h = curl_slist_append(h, auth);
   if (json) {
      h = curl_slist_append(h, "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
   } else if (form) {
      mime = curl_mime_init(c);
      curl_mimepart *p = curl_mime_addpart(mime);
      if (*purpose) {
         curl_mime_name(p, "purpose");
         curl_mime_data(p, purpose, CURL_ZERO_TERMINATED);
         p = curl_mime_addpart(mime);
      }
      curl_mime_name(p, "file");
      curl_mime_filedata(p, form);
      if (filename)
         curl_mime_filename(p, filename);
      curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
   } else if (str_eq(argv[1], "POST")) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
   }
   Sbuf out = { 0 }, hdrs = { 0 };
   curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
   curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
   curl_easy_setopt(c, CURLOPT_URL, argv[2]);
   curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, argv[1]);
   curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
   curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
   curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
   curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
   CURLcode rc = curl_easy_perform(c);
   long status = 0;
   curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
   if (rc != CURLE_OK)
      die(1, "http_probe: %s %s: %s", argv[1], argv[2], curl_easy_strerror(rc));
   printf("%ld\n", status);
   json_t *v = json_loads(out.buf ? out.buf : "", 0, NULL);
   if (nget == 0)
      printf("%s\n", out.buf ? out.buf : "");
   for (int i = 0; i < nget; i++) {
      json_t *x = walk(v, gets[i]);
      if (str_startswith(gets[i], "header:")) {
         char *hv = header_value(hdrs.buf, gets[i] + 7);
         printf("%s\n", hv);
         free(hv);
      } else if (json_is_string(x)) {
         printf("%s\n", json_string_value(x));
      } else {
         char *s = x ? json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("(missing)");
         printf("%s\n", s);
         free(s);
      }
   }
   json_decref(v);
   Sbuf_free(&out);
   Sbuf_free(&hdrs);
   free(auth);
   free(json);
   curl_mime_free(mime);
   curl_slist_free_all(h);
   curl_easy_cleanup(c);
   curl_global_cleanup();
   return 0;
}
