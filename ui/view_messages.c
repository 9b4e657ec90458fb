/* view_messages.c - the message log: every message of this session, oldest first, whole and
 * wrapped to the screen, with its time; the status line shows only the latest (lazygit keeps its
 * command log the same way). Opens scrolled to the newest. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"

typedef struct {
   UText text;
   int width;
} Messages;

static void build(View *v, int width) {
   Messages *m = v->data;
   UText_clear(&m->text);
   m->width = width;
   int n = Console_log_count();
   if (n == 0) {
      UText_nl(&m->text);
      UText_add(&m->text, Draw_attr(C_DIM), "No messages yet in this session.");
      return;
   }
   for (int i = 0; i < n; i++) {
      const char *ts;
      int repeat;
      const char *text = Console_log_entry(i, &ts, &repeat);
      char **l;
      int k = Draw_wrap(text, width - 12 > 10 ? width - 12 : 10, &l);
      for (int j = 0; j < k; j++) {
         UText_nl(&m->text);
         UText_add(&m->text, Draw_attr(C_DIM), "%-9s  ", j ? "" : ts);
         UText_add(&m->text, A_NORMAL, "%s", l[j]);
      }
      if (repeat > 1)
         UText_add(&m->text, Draw_attr(C_DIM), " (%d times)", repeat);
      Draw_free_lines(l, k);
   }
}

static void msg_open(View *v) {
   if (!v->data) {
      v->data = xcalloc(1, sizeof(Messages));
      v->offset = 1 << 20;   /* the newest: the loop clamps the offset to the end */
   }
   build(v, COLS);
}

static int msg_lines(View *v) {
   return ((Messages *)v->data)->text.n;
}

static void msg_draw(View *v, int top, int height, int width) {
   Messages *m = v->data;
   if (m->width != width)
      build(v, width);
   UText_draw(&m->text, v->offset, top, height, width, -1);
}

static int msg_request(View *v, Action a) {
   return NOT_HANDLED;
}

static void msg_title(View *v, char *buf, size_t size) {
   snprintf(buf, size, "offramp \xc2\xb7 messages \xc2\xb7 %d this session", Console_log_count());
}

static void msg_done(View *v) {
   Messages *m = v->data;
   if (!m)
      return;
   UText_clear(&m->text);
   free(m);
   v->data = NULL;
}

const ViewOps messages_ops = {
   .name = "messages",
   .open = msg_open,
   .draw = msg_draw,
   .request = msg_request,
   .done = msg_done,
   .title = msg_title,
   .lines = msg_lines,
   .hint = "j/k:scroll g/G:first/last q:back",
};
