/* view_versions.c - a task's model versions (offramp deploy): each with its artifact (format,
 * base model, rank, size, sha256, the dataset and job it came from), its deployment (server kind
 * and URL, status, smoke check, the route revision that points at it) and the load figures; B
 * rolls the deployment back to the previous version after a confirmation, putting it back on its
 * server when the server dropped it, as offramp deploy rollback TASK does. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"
#include "control/deploy.h"

#define ROLLBACK_TIMEOUT_MS 60000L
#define SMOKE_TIMEOUT_MS 30000L

typedef struct {
   UText u;
} VersionsView;

/* The newest deployment of version `number` in the list (newest first), or NULL. */
static json_t *deployment_of(json_t *deps, json_int_t number) {
   size_t i;
   json_t *d;
   json_array_foreach(deps, i, d) {
      if (json_integer_value(json_object_get(d, "version")) == number)
         return d;
   }
   return NULL;
}

static const char *str(json_t *o, const char *k) {
   const char *s = json_string_value(json_object_get(o, k));
   return s ? s : "";
}

static void vv_open(View *v) {
   VersionsView *vv = v->data;
   if (!vv)
      v->data = vv = xcalloc(1, sizeof *vv);
   UText_clear(&vv->u);
   UText *u = &vv->u;
   json_t *l = Deploy_list_json(Console_store(), v->arg);
   json_t *vs = json_object_get(l, "versions"), *ds = json_object_get(l, "deployments");
   if (!json_array_size(vs)) {
      UText_add(u, Draw_attr(C_DIM), "No model versions of %s: a trainer's adapter becomes one with offramp train %s "
                "--runner ... or offramp deploy register %s --artifact PATH --base-model M.", v->arg, v->arg, v->arg);
      UText_nl(u);
      json_decref(l);
      return;
   }
   UText_add(u, Draw_attr(C_HEADING), "MODEL VERSIONS  ");
   UText_add(u, Draw_attr(C_DIM), "newest first; B rolls back to the previous version (offramp deploy rollback %s)",
             v->arg);
   UText_nl(u);
   size_t i;
   json_t *o;
   json_array_foreach(vs, i, o) {
      json_int_t number = json_integer_value(json_object_get(o, "version"));
      char size[48] = "size ?", rank[24] = "rank ?", n[32];
      if (json_is_integer(json_object_get(o, "size")))
         snprintf(size, sizeof size, "%s bytes", fmt_count(n, sizeof n, json_integer_value(json_object_get(o, "size"))));
      if (json_is_integer(json_object_get(o, "rank")))
         snprintf(rank, sizeof rank, "rank %lld", (long long)json_integer_value(json_object_get(o, "rank")));
      json_t *d = deployment_of(ds, number);
      bool active = d && str_eq(str(d, "status"), "active");
      UText_nl(u);
      UText_add(u, active ? Draw_attr(C_CURRENT) : (int)A_BOLD, "v%lld", (long long)number);
      UText_add(u, A_NORMAL, "  %s  %s  %s  %s  sha256 %.12s", str(o, "format"), str(o, "base_model"), rank, size,
                str(o, "sha256"));
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "    artifact ");
      UText_add(u, A_NORMAL, "%s", str(o, "artifact"));
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "    lineage  ");
      if (json_is_integer(json_object_get(o, "dataset")))
         UText_add(u, A_NORMAL, "dataset %lld", (long long)json_integer_value(json_object_get(o, "dataset")));
      else
         UText_add(u, A_NORMAL, "no dataset");
      if (json_is_integer(json_object_get(o, "job")))
         UText_add(u, A_NORMAL, " \xe2\x86\x92 experiment #%lld", (long long)json_integer_value(json_object_get(o, "job")));
      UText_add(u, A_NORMAL, " \xe2\x86\x92 v%lld, recorded %.16s by %s", (long long)number, str(o, "created_at"),
                str(o, "actor"));
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "    deploy   ");
      if (!d) {
         UText_add(u, Draw_attr(C_DIM), "not deployed (offramp deploy %s --to URL --kind KIND --version %lld)", v->arg,
                   (long long)number);
         UText_nl(u);
         continue;
      }
      json_t *smoke = json_object_get(d, "smoke_ok");
      UText_add(u, active ? Draw_attr(C_OK) : (int)A_NORMAL, "%s", str(d, "status"));
      UText_add(u, A_NORMAL, " on %s at %s as %s, smoke ", str(d, "kind"), str(d, "server"), str(d, "model"));
      if (json_is_integer(smoke))
         UText_add(u, Draw_attr(json_integer_value(smoke) ? C_OK : C_FAIL), "%s",
                   json_integer_value(smoke) ? "passed" : "FAILED");
      else
         UText_add(u, Draw_attr(C_MISSING), "not run");
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "    route    ");
      if (json_is_integer(json_object_get(d, "route_revision")))
         UText_add(u, A_NORMAL, "revision %lld points at it",
                   (long long)json_integer_value(json_object_get(d, "route_revision")));
      else
         UText_add(u, Draw_attr(C_DIM), "no route revision points at it (offramp route set %s ...)", v->arg);
      UText_nl(u);
      json_t *load = json_loads(str(d, "load"), 0, NULL);
      if (load) {
         json_t *f = json_object_get(load, "frontier");
         UText_add(u, Draw_attr(C_DIM), "    load     ");
         UText_add(u, A_NORMAL, "c=%lld, %lld/%lld ok: TTFT p50 %.1f ms, p99 %.1f ms, %.1f tokens/s",
                   (long long)json_integer_value(json_object_get(load, "concurrency")),
                   (long long)json_integer_value(json_object_get(load, "ok")),
                   (long long)json_integer_value(json_object_get(load, "requests")),
                   json_number_value(json_object_get(load, "ttft_p50_ms")),
                   json_number_value(json_object_get(load, "ttft_p99_ms")),
                   json_number_value(json_object_get(load, "tokens_per_s")));
         if (json_is_object(f))
            UText_add(u, A_NORMAL, "; frontier %s TTFT p50 %.1f ms, p99 %.1f ms, %.1f tokens/s", str(f, "model"),
                      json_number_value(json_object_get(f, "ttft_p50_ms")),
                      json_number_value(json_object_get(f, "ttft_p99_ms")),
                      json_number_value(json_object_get(f, "tokens_per_s")));
         UText_nl(u);
         json_decref(load);
      }
   }
   json_decref(l);
   UText_wrap(u, COLS);
}

static int vv_lines(View *v) {
   return ((VersionsView *)v->data)->u.n;
}

static void vv_draw(View *v, int top, int height, int width) {
   UText_draw(&((VersionsView *)v->data)->u, v->offset, top, height, width, -1);
}

static void vv_title(View *v, char *buf, size_t size) {
   snprintf(buf, size, "offramp \xc2\xb7 %s \xc2\xb7 model versions", v->arg);
}

/* B: the active deployment back to the previous version, after a y at the prompt. */
static int rollback(View *v) {
   Store *st = Console_store();
   json_t *l = Deploy_list_json(st, v->arg), *ds = json_object_get(l, "deployments"), *cur = NULL, *d;
   size_t i;
   json_array_foreach(ds, i, d) {
      if (!cur && str_eq(str(d, "status"), "active"))
         cur = d;
   }
   if (!cur) {
      Console_message("%s has no active deployment to roll back (offramp deploy %s --to URL --kind KIND)", v->arg,
                      v->arg);
      json_decref(l);
      return REDRAW;
   }
   char *q = xasprintf("roll %s back from v%lld on %s (%s)? the previous version goes back on its server. y/N ",
                       v->arg, (long long)json_integer_value(json_object_get(cur, "version")), str(cur, "kind"),
                       str(cur, "server"));
   json_decref(l);
   char *answer = Console_prompt(q, "");
   free(q);
   bool yes = answer && (str_eq(str_trim(answer), "y") || str_eq(str_trim(answer), "Y"));
   free(answer);
   if (!yes) {
      Console_message("nothing rolled back");
      return REDRAW;
   }
   long long id;
   bool reloaded;
   char *err = NULL, *summary = NULL;
   if (!Deploy_rollback(st, v->arg, "console", ROLLBACK_TIMEOUT_MS, &id, &reloaded, &err)) {
      Console_message("rollback refused: %s", err);
      free(err);
      return REDRAW;
   }
   SmokeResult sr;
   bool smoked = Deploy_smoke(st, v->arg, SMOKE_TIMEOUT_MS, &sr, &summary, &err);
   l = Deploy_list_json(st, v->arg);
   d = json_array_get(json_object_get(l, "deployments"), 0);
   Console_message("rolled back to v%lld (deployment %lld)%s; smoke %s%s; point the route at %s|%s",
                   (long long)json_integer_value(json_object_get(d, "version")), id,
                   reloaded ? ": the server had dropped it, it was put back" : "",
                   !smoked ? "not run: " : sr.passed ? "passed" : "FAILED: ", !smoked ? err : sr.passed ? "" : summary,
                   str(d, "chat_url"), str(d, "model"));
   json_decref(l);
   free(err);
   free(summary);
   vv_open(v);
   return REDRAW;
}

static int vv_request(View *v, Action a) {
   if (a == ACTION_DEPLOY_ROLLBACK)
      return rollback(v);
   return NOT_HANDLED;
}

static void vv_done(View *v) {
   VersionsView *vv = v->data;
   if (vv)
      UText_clear(&vv->u);
   free(vv);
   v->data = NULL;
}

const ViewOps versions_ops = {
   .name = "versions",
   .open = vv_open,
   .draw = vv_draw,
   .request = vv_request,
   .done = vv_done,
   .title = vv_title,
   .lines = vv_lines,
   .hint = "j/k:scroll B:roll back q:back",
};
