/* view_review.c - recent shadow disagreements of a task (GET /admin/samples?kind=disagree): the
 * list on top, the selected one's whole input and both answers side by side below; 1-4 grade it
 * (primary right, candidate right, both fine, both wrong), stored in the workspace by request id.
 * The list is frozen while the view is open, so a grade lands on the row the reviewer reads:
 * new disagreements are counted in the title ("3 new") and u (or Ctrl-L) loads them, keeping
 * the cursor on the same request. Space scrolls the selected one's text when it is long. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"
#include "control/gwadmin.h"
#include "control/review.h"
#include "control/task.h"

#define SAMPLES 50
#define CHECK_MS 2000   /* how often the title's "n new" is counted while the list is frozen */

typedef struct {
   char *rid, *input, *primary, *candidate;
} Sample;

typedef struct {
   Sample *s;
   int n;
   bool loaded;
   long long task_id;
   char *error;
   int fresh;          /* disagreements the gateway has that the frozen list does not */
   size_t skip;        /* the lines every input starts with (a prompt template): the list skips them */
   int scroll;         /* first line of the selected one's text shown */
   int scroll_of;      /* the row that scroll is for */
} ReviewView;

static void samples_clear(ReviewView *r) {
   for (int i = 0; i < r->n; i++) {
      free(r->s[i].rid);
      free(r->s[i].input);
      free(r->s[i].primary);
      free(r->s[i].candidate);
   }
   free(r->s);
   r->s = NULL;
   r->n = 0;
   free(r->error);
   r->error = NULL;
}

/* The gateway's newest disagreements of the task (review.c reads them for the CLI too), or NULL
 * with *err. */
static ReviewSample *fetch(View *v, int *n, char **err) {
   GwAdmin gw;
   if (!GwAdmin_init(&gw, Console_store(), NULL, NULL, err))
      return NULL;
   gw.timeout_s = 5;
   ReviewSample *s = Review_samples(&gw, v->arg, SAMPLES, n, err);
   GwAdmin_clear(&gw);
   return s;
}

static void load(View *v) {
   ReviewView *r = v->data;
   const char *keep = r->n && v->cursor < r->n ? r->s[v->cursor].rid : NULL;
   char *was = keep ? xstrdup(keep) : NULL;
   samples_clear(r);
   r->loaded = true;
   r->fresh = 0;
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (!Task_get(Console_store(), v->arg, &t, &err)) {
      r->error = err;
      Task_clear(&t);
      free(was);
      return;
   }
   r->task_id = t.id;
   Task_clear(&t);
   int n = 0;
   ReviewSample *got = fetch(v, &n, &err);
   if (!got) {
      r->error = err;
      free(was);
      return;
   }
   r->s = xcalloc((size_t)n + 1, sizeof *r->s);
   for (int i = 0; i < n; i++) {
      Sample *s = &r->s[r->n++];
      s->rid = xstrdup(got[i].rid);
      s->input = xstrdup(got[i].input);
      s->primary = xstrdup(got[i].primary);
      s->candidate = xstrdup(got[i].candidate);
      if (was && str_eq(was, s->rid))
         v->cursor = r->n - 1;
   }
   Review_samples_free(got, n);
   free(was);
   /* The list's input column shows where the inputs start to differ: a template's fixed
    * instructions would fill it with the same words on every row. */
   r->skip = 0;
   if (r->n > 1) {
      size_t common = strlen(r->s[0].input);
      for (int m = 1; m < r->n; m++) {
         size_t k = 0;
         while (k < common && r->s[m].input[k] == r->s[0].input[k])
            k++;
         common = k;
      }
      while (common > 0 && r->s[0].input[common - 1] != '\n')
         common--;
      r->skip = common;
   }
}

/* Called on opening and whenever the console reloads views: loads the list the first time only. */
static void rw_open(View *v) {
   if (!v->data)
      v->data = xcalloc(1, sizeof(ReviewView));
   if (!((ReviewView *)v->data)->loaded)
      load(v);
}

static int rw_lines(View *v) {
   return ((ReviewView *)v->data)->n;
}

static void rw_title(View *v, char *buf, size_t size) {
   ReviewView *r = v->data;
   int n = snprintf(buf, size, "offramp \xc2\xb7 disagreements %s \xc2\xb7 %d shown", v->arg, r->n);
   if (r->fresh && n > 0 && (size_t)n < size)
      snprintf(buf + n, size - (size_t)n, " \xc2\xb7 %d new (u loads them)", r->fresh);
}

static int rw_busy(View *v) {
   ReviewView *r = v->data;
   return r && r->loaded && !r->error ? CHECK_MS : 0;
}

/* Counts the gateway's disagreements the frozen list does not hold; the list itself stays. */
static int rw_tick(View *v) {
   ReviewView *r = v->data;
   char *err = NULL;
   int n = 0;
   ReviewSample *got = fetch(v, &n, &err);
   free(err);
   if (!got)
      return 0;
   int fresh = 0;
   for (int i = 0; i < n; i++) {
      bool known = false;
      for (int k = 0; k < r->n && !known; k++)
         known = str_eq(r->s[k].rid, got[i].rid);
      fresh += !known;
   }
   Review_samples_free(got, n);
   if (fresh == r->fresh)
      return 0;
   r->fresh = fresh;
   return REDRAW;
}

/* One line of a list cell: the text's lines joined by spaces. */
static char *flat(const char *s) {
   char *f = xstrdup(s);
   for (char *c = f; *c; c++) {
      if (*c == '\n' || *c == '\r' || *c == '\t')
         *c = ' ';
   }
   return f;
}

/* The selected disagreement as lines of (left, right): the input across the width, then the two
 * answers side by side. */
typedef struct {
   char **left, **right;
   bool *head;         /* per line: drawn as a heading */
   int n;
} Detail;

static void detail_add(Detail *d, const char *left, const char *right, bool head) {
   d->left = xrealloc(d->left, (size_t)(d->n + 1) * sizeof *d->left);
   d->right = xrealloc(d->right, (size_t)(d->n + 1) * sizeof *d->right);
   d->head = xrealloc(d->head, (size_t)(d->n + 1) * sizeof *d->head);
   d->left[d->n] = xstrdup(left);
   d->right[d->n] = right ? xstrdup(right) : NULL;
   d->head[d->n] = head;
   d->n++;
}

static void detail_build(Detail *d, const Sample *s, int width) {
   memset(d, 0, sizeof *d);
   char *h = xasprintf("INPUT  (request %s)", s->rid);
   detail_add(d, h, NULL, true);
   free(h);
   char **l;
   int n = Draw_wrap(s->input, width - 3, &l);
   for (int i = 0; i < n; i++)
      detail_add(d, l[i], NULL, false);
   Draw_free_lines(l, n);
   detail_add(d, "", NULL, false);
   int colw = (width - 4) / 2;
   detail_add(d, "PRIMARY", "CANDIDATE", true);
   char **pl, **cl;
   int np = Draw_wrap(s->primary, colw - 2, &pl), nc = Draw_wrap(s->candidate, colw - 2, &cl);
   for (int i = 0; i < np || i < nc; i++)
      detail_add(d, i < np ? pl[i] : "", i < nc ? cl[i] : "", false);
   Draw_free_lines(pl, np);
   Draw_free_lines(cl, nc);
}

static void detail_free(Detail *d) {
   for (int i = 0; i < d->n; i++) {
      free(d->left[i]);
      free(d->right[i]);
   }
   free(d->left);
   free(d->right);
   free(d->head);
}

/* Rows of the list: a third of the view, at least 3 (fewer when there are fewer). */
static int list_rows(const ReviewView *r, int height) {
   int rows = height / 3 > 3 ? height / 3 : 3;
   return r->n < rows ? (r->n > 0 ? r->n : 1) : rows;
}

static void rw_draw(View *v, int top, int height, int width) {
   ReviewView *r = v->data;
   if (r->error) {
      Draw_text(top + 1, 1, width - 1, Draw_attr(C_FAIL), r->error);
      return;
   }
   if (r->n == 0) {
      Draw_text(top + 1, 1, width - 1, A_NORMAL, "No disagreements captured yet: the candidate agrees with the primary.");
      if (r->fresh)
         Draw_text(top + 2, 1, width - 1, Draw_attr(C_MISSING), "New ones have come in since: u loads them.");
      return;
   }
   char line[1024];
   int half = (width - 34) / 2 > 8 ? (width - 34) / 2 : 8;
   snprintf(line, sizeof line, "%-15s %-16s %-*.*s %-*.*s", "grade", "input", half, half, "primary", half, half,
            "candidate");
   Draw_text(top, 1, width - 1, Draw_attr(C_HEADING), line);
   int rows = list_rows(r, height);
   if (v->cursor >= v->offset + rows)
      v->offset = v->cursor - rows + 1;
   if (v->cursor < v->offset)
      v->offset = v->cursor;
   for (int i = v->offset; i < r->n && i < v->offset + rows; i++) {
      Sample *s = &r->s[i];
      int g = Review_get(Console_store(), s->rid);
      char *in = flat(s->input + r->skip), *p = flat(s->primary), *c = flat(s->candidate);
      int attr = i == v->cursor ? Draw_attr(C_CURSOR) : (int)A_NORMAL;
      int y = top + 1 + i - v->offset;
      if (i == v->cursor)
         Draw_fill(y, 0, width, attr);
      /* Each cell clipped to its column: a wide character never pushes the next one along. */
      Draw_text(y, 1, 15, attr, g < 0 ? "-" : Grade_titles[g]);
      Draw_text(y, 17, 16, attr, in);
      Draw_text(y, 34, half, attr, p);
      Draw_text(y, 35 + half, half, attr, c);
      free(in);
      free(p);
      free(c);
   }
   /* The detail: below the list, above the key line, never over either. */
   int y0 = top + 1 + rows + 1, avail = top + height - 1 - y0;
   Sample *s = &r->s[v->cursor < r->n ? v->cursor : 0];
   if (r->scroll_of != v->cursor) {
      r->scroll = 0;
      r->scroll_of = v->cursor;
   }
   Detail d;
   detail_build(&d, s, width);
   if (r->scroll >= d.n)
      r->scroll = 0;
   int colw = (width - 4) / 2;
   for (int i = 0; i < avail && r->scroll + i < d.n; i++) {
      int k = r->scroll + i;
      int attr = d.head[k] ? Draw_attr(C_HEADING) : (int)A_NORMAL;
      if (d.right[k]) {
         Draw_text(y0 + i, d.head[k] ? 1 : 3, colw - 1, attr, d.left[k]);
         Draw_text(y0 + i, 2 + colw + (d.head[k] ? 0 : 2), colw - 2, attr, d.right[k]);
      } else {
         Draw_text(y0 + i, d.head[k] ? 1 : 3, width - 4, attr, d.left[k]);
      }
   }
   bool more = r->scroll + avail < d.n || r->scroll > 0;
   snprintf(line, sizeof line, "1 primary right  2 candidate right  3 both fine  4 both wrong%s%s",
            more ? "  Space: more" : "", r->fresh ? "  u: load new" : "");
   Draw_text(top + height - 1, 1, width - 1, Draw_attr(C_DIM), line);
   detail_free(&d);
}

static int rw_request(View *v, Action a) {
   ReviewView *r = v->data;
   Grade g;
   switch (a) {
   case ACTION_GRADE_PRIMARY: g = GRADE_PRIMARY; break;
   case ACTION_GRADE_CANDIDATE: g = GRADE_CANDIDATE; break;
   case ACTION_GRADE_BOTH: g = GRADE_BOTH; break;
   case ACTION_GRADE_NEITHER: g = GRADE_NEITHER; break;
   case ACTION_REFRESH: {
      int before = r->n;
      load(v);
      Console_message("%d disagreement%s loaded (%+d)", r->n, r->n == 1 ? "" : "s", r->n - before);
      return REDRAW;
   }
   case ACTION_DETAIL_SCROLL:
      r->scroll += v->height / 2 > 1 ? v->height / 2 : 1;   /* drawing wraps it to the top at the end */
      return REDRAW;
   default: return NOT_HANDLED;
   }
   if (r->n == 0) {
      Console_message("nothing to grade");
      return REDRAW;
   }
   char *err = NULL;
   Sample *s = &r->s[v->cursor];
   if (Review_grade(Console_store(), r->task_id, s->rid, g, &err))
      Console_message("%s: %s%s", s->rid, Grade_titles[g],
                      g == GRADE_CANDIDATE ? " (the primary's answer is flagged corrected: the dataset drops it)"
                      : g == GRADE_NEITHER ? " (the primary's answer is flagged wrong: the dataset drops it)" : "");
   else
      Console_message("%s", err);
   free(err);
   if (v->cursor < r->n - 1)
      v->cursor++;
   return REDRAW;
}

static void rw_done(View *v) {
   ReviewView *r = v->data;
   if (!r)
      return;
   samples_clear(r);
   free(r);
   v->data = NULL;
}

const ViewOps review_ops = {
   .name = "review",
   .open = rw_open,
   .draw = rw_draw,
   .request = rw_request,
   .done = rw_done,
   .title = rw_title,
   .lines = rw_lines,
   .busy = rw_busy,
   .tick = rw_tick,
   .cursor_line = true,
   .hint = "1-4:grade Space:more u:load new",
};
