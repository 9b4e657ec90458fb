/* view_review.c - recent shadow disagreements of a task (GET /admin/samples?kind=disagree): the
 * list on top, the selected one's input and both answers side by side below; 1-4 grade it
 * (primary right, candidate right, both fine, both wrong), stored in the workspace. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "gwadmin.h"
#include "review.h"
#include "task.h"
#include "util.h"

#define SAMPLES 50
#define DETAIL_LINES 9

typedef ReviewSample Sample;

typedef struct {
   Sample *s;
   int n;
   long long task_id;
   char *error;
} ReviewView;

static void samples_clear(ReviewView *r) {
   Review_samples_free(r->s, r->n);
   r->s = NULL;
   r->n = 0;
   free(r->error);
   r->error = NULL;
}

static void rw_open(View *v) {
   ReviewView *r = v->data;
   if (!r)
      v->data = r = xcalloc(1, sizeof *r);
   samples_clear(r);
   Task t;
   Task_init(&t);
   GwAdmin gw;
   char *err = NULL;
   if (!Task_get(Console_store(), v->arg, &t, &err) || !GwAdmin_init(&gw, Console_store(), NULL, NULL, &err)) {
      r->error = err;
      Task_clear(&t);
      return;
   }
   r->task_id = t.id;
   gw.timeout_s = 5;
   r->s = Review_samples(&gw, v->arg, SAMPLES, &r->n, &err);
   if (!r->s)
      r->error = err;
   GwAdmin_clear(&gw);
   Task_clear(&t);
}

static int rw_lines(View *v) {
   return ((ReviewView *)v->data)->n;
}

static void rw_title(View *v, char *buf, size_t size) {
   snprintf(buf, size, "offramp \xc2\xb7 disagreements %s \xc2\xb7 %d recent", v->arg, ((ReviewView *)v->data)->n);
}

/* Word-wrapped text in a column, at most rows lines. */
static void column(int top, int x, int width, int rows, int attr, const char *text) {
   size_t len = strlen(text), at = 0;
   for (int r = 0; r < rows && at < len; r++) {
      size_t n = (size_t)(width > 0 ? width : 1);
      if (at + n < len) {
         size_t cut = n;
         while (cut > n / 2 && text[at + cut] != ' ')
            cut--;
         if (text[at + cut] == ' ')
            n = cut;
      }
      char *line = xstrndup(text + at, n < len - at ? n : len - at);
      Draw_text(top + r, x, width, attr, line);
      free(line);
      at += n;
      while (at < len && text[at] == ' ')
         at++;
   }
}

static void rw_draw(View *v, int top, int height, int width) {
   ReviewView *r = v->data;
   if (r->error) {
      Draw_text(top + 1, 1, width - 1, Draw_attr(C_FAIL), r->error);
      return;
   }
   if (r->n == 0) {
      Draw_text(top + 1, 1, width - 1, A_NORMAL, "No disagreements captured yet: the candidate agrees with the primary.");
      return;
   }
   char line[512];
   int half = (width - 30) / 2 > 8 ? (width - 30) / 2 : 8;
   snprintf(line, sizeof line, "%-15s %-12s %-*.*s %-*.*s", "grade", "input", half, half, "primary", half, half,
            "candidate");
   Draw_text(top, 1, width - 1, Draw_attr(C_HEADING), line);
   int rows = height - 1 - DETAIL_LINES;
   if (rows < 1)
      rows = 1;
   if (v->cursor >= v->offset + rows)
      v->offset = v->cursor - rows + 1;
   if (v->cursor < v->offset)
      v->offset = v->cursor;
   for (int i = v->offset; i < r->n && i < v->offset + rows; i++) {
      Sample *s = &r->s[i];
      int g = Review_get(Console_store(), s->rid);
      snprintf(line, sizeof line, "%-15s %-12.12s %-*.*s %-*.*s", g < 0 ? "-" : Grade_titles[g], s->input, half, half,
               s->primary, half, half, s->candidate);
      int attr = i == v->cursor ? Draw_attr(C_CURSOR) : (int)A_NORMAL;
      if (i == v->cursor)
         Draw_fill(top + 1 + i - v->offset, 0, width, attr);
      Draw_text(top + 1 + i - v->offset, 1, width - 1, attr, line);
   }
   int y = top + 1 + rows;
   Sample *s = &r->s[v->cursor < r->n ? v->cursor : 0];
   Draw_text(y, 1, width - 1, Draw_attr(C_HEADING), "INPUT");
   column(y + 1, 3, width - 4, 2, A_NORMAL, s->input);
   int colw = (width - 4) / 2;
   Draw_text(y + 3, 1, colw, Draw_attr(C_HEADING), "PRIMARY");
   Draw_text(y + 3, 2 + colw, colw, Draw_attr(C_HEADING), "CANDIDATE");
   column(y + 4, 3, colw - 2, DETAIL_LINES - 5, A_NORMAL, s->primary);
   column(y + 4, 2 + colw + 2, colw - 2, DETAIL_LINES - 5, A_NORMAL, s->candidate);
   Draw_text(y + DETAIL_LINES - 1, 1, width - 1, Draw_attr(C_DIM),
             "1 primary right  2 candidate right  3 both fine  4 both wrong");
}

static int rw_request(View *v, Action a) {
   ReviewView *r = v->data;
   Grade g;
   switch (a) {
   case ACTION_GRADE_PRIMARY: g = GRADE_PRIMARY; break;
   case ACTION_GRADE_CANDIDATE: g = GRADE_CANDIDATE; break;
   case ACTION_GRADE_BOTH: g = GRADE_BOTH; break;
   case ACTION_GRADE_NEITHER: g = GRADE_NEITHER; break;
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
   .cursor_line = true,
};
