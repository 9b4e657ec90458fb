/* view_audit.c - seed 001's audit table (feature, calls/day, avg cost/call, daily,
 * monthly, % of total), sortable; Enter opens the task, or the touchpoints view for an
 * untagged row. Reads only the aggregates, so it opens at once on any log size. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"
#include "control/audit.h"

typedef struct {
   Audit a;
   bool loaded;
   AuditSort sort;
   int *shown;        /* indices into a.rows: sorted, those the '/' filter keeps */
   int nshown;
} AuditView;

/* The rows the filter keeps (by task name, fingerprint or prompt template), in sort order. */
static void select_rows(View *v) {
   AuditView *av = v->data;
   free(av->shown);
   av->shown = xcalloc((size_t)av->a.n + 1, sizeof *av->shown);
   av->nshown = 0;
   for (int i = 0; i < av->a.n; i++) {
      const AuditRow *r = &av->a.rows[i];
      if (!*v->filter || (r->name && strstr(r->name, v->filter)) ||
          (r->fingerprint && strstr(r->fingerprint, v->filter)) || (r->skeleton && strstr(r->skeleton, v->filter)))
         av->shown[av->nshown++] = i;
   }
}

static void av_open(View *v) {
   AuditView *av = v->data;
   if (!av)
      v->data = av = xcalloc(1, sizeof *av);
   if (av->loaded)
      Audit_free(&av->a);
   char *err = NULL;
   av->loaded = Audit_compute(Console_store(), NULL, false, &av->a, &err);
   if (!av->loaded) {
      Console_message("%s", err);
      free(err);
      return;
   }
   Audit_sort(&av->a, av->sort);
   select_rows(v);
}

static int av_lines(View *v) {
   AuditView *av = v->data;
   return av->loaded ? av->nshown : 0;
}

static void av_title(View *v, char *buf, size_t size) {
   AuditView *av = v->data;
   int n = snprintf(buf, size, "offramp \xc2\xb7 audit \xc2\xb7 sorted by %s", AuditSort_name(av->sort));
   if (*v->filter && n > 0 && (size_t)n < size)
      snprintf(buf + n, size - (size_t)n, " \xc2\xb7 %d matching '%s'", av->nshown, v->filter);
}

static void av_draw(View *v, int top, int height, int width) {
   AuditView *av = v->data;
   Audit *a = &av->a;
   char line[512], x[32], y[32];
   if (!av->loaded || a->calls == 0) {
      Draw_text(top + 1, 1, width - 1, A_NORMAL, "No logged calls yet.");
      Draw_text(top + 2, 1, width - 1, Draw_attr(C_DIM),
                "Import logs with 'offramp import FILE' or point the app at 'offramp gateway'.");
      return;
   }
   snprintf(line, sizeof line, "%d day%s (%s to %s) \xc2\xb7 %s calls \xc2\xb7 %s/month on the API (measured)", a->days,
            a->days == 1 ? "" : "s", a->first_day, a->last_day, fmt_count(x, sizeof x, a->calls),
            fmt_money(y, sizeof y, a->monthly_cost, -1));
   Draw_text(top, 1, width - 1, A_NORMAL, line);
   Audit_header(line, sizeof line, width - 2);
   Draw_text(top + 1, 1, width - 1, Draw_attr(C_HEADING), line);
   int notes = a->nunpriced ? 2 : 1;
   int rows = height - 2 - notes;
   if (v->cursor >= v->offset + rows)
      v->offset = v->cursor - rows + 1;
   if (v->cursor < v->offset)
      v->offset = v->cursor;
   for (int r = 0; r < rows && v->offset + r < av->nshown; r++) {
      int i = v->offset + r;
      const AuditRow *row = &a->rows[av->shown[i]];
      Audit_row(row, line, sizeof line, width - 2);
      int attr = i == v->cursor ? Draw_attr(C_CURSOR) : row->name ? (int)A_NORMAL : Draw_attr(C_DIM);
      if (i == v->cursor)
         Draw_fill(top + 2 + r, 0, width, attr);
      Draw_text(top + 2 + r, 1, width - 1, attr, line);
   }
   int y0 = top + height - notes;
   if (a->nunpriced) {
      long long calls = 0;
      for (int i = 0; i < a->nunpriced; i++)
         calls += a->unpriced[i].calls;
      snprintf(line, sizeof line, "unpriced: %s calls of %d model%s (first: %s; offramp prices set MODEL IN OUT)",
               fmt_count(x, sizeof x, calls), a->nunpriced, a->nunpriced == 1 ? "" : "s", a->unpriced[0].model);
      Draw_text(y0++, 1, width - 1, Draw_attr(C_MISSING), line);
   }
   snprintf(line, sizeof line, "o: sort (%s) \xc2\xb7 Enter: open \xc2\xb7 T: touchpoints%s", AuditSort_name(av->sort),
            a->est_calls ? " \xc2\xb7 some tokens estimated" : "");
   Draw_text(y0, 1, width - 1, Draw_attr(C_DIM), line);
}

static int av_request(View *v, Action a) {
   AuditView *av = v->data;
   if (a == ACTION_SORT_NEXT) {
      av->sort = (av->sort + 1) % AUDIT_SORT_COUNT;
      if (av->loaded) {
         Audit_sort(&av->a, av->sort);
         select_rows(v);
      }
      v->cursor = v->offset = 0;
      return REDRAW;
   }
   if (a == ACTION_ENTER) {
      if (!av->loaded || av->nshown == 0) {
         Console_message("no row to open");
         return HANDLED;
      }
      const AuditRow *r = &av->a.rows[av->shown[v->cursor]];
      if (r->name) {
         char *name = xstrdup(r->name);
         Console_open_view(&task_ops, name, NULL);
         free(name);
      } else {
         Console_open_view(&touchpoints_ops, NULL, NULL);
      }
      return REDRAW;
   }
   return NOT_HANDLED;
}

static void av_done(View *v) {
   AuditView *av = v->data;
   if (av && av->loaded)
      Audit_free(&av->a);
   if (av)
      free(av->shown);
   free(av);
   v->data = NULL;
}

const ViewOps audit_ops = {
   .name = "audit",
   .open = av_open,
   .draw = av_draw,
   .request = av_request,
   .done = av_done,
   .title = av_title,
   .lines = av_lines,
   .cursor_line = true,
   .filters = true,
   .hint = "j/k:move o:sort Enter:open T:touchpoints",
};
