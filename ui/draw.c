/* draw.c - attributes (colour unless NO_COLOR), clipped wide-character text, word wrapping, and
 * the segment-list text that section views build. Every string reaches the terminal through
 * Draw_text, which lets no control byte through: text that is not valid UTF-8 or holds C0/C1
 * controls is drawn with U+FFFD in their place, and noted in the file OFFRAMP_DRAW_CHECK names
 * (the screen tests set it and expect it empty). */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"
#include "common/mdview.h"
#include "common/util.h"
#include "console.h"

static int attrs[C_COUNT];

void Draw_init_colors(void) {
   const char *nc = getenv("NO_COLOR");
   bool color = has_colors() && !(nc && *nc);
   attrs[C_TITLE] = A_REVERSE | A_BOLD;
   attrs[C_CURSOR] = A_REVERSE;
   attrs[C_HEADING] = A_BOLD;
   attrs[C_OK] = A_BOLD;
   attrs[C_FAIL] = A_BOLD;
   attrs[C_MISSING] = A_NORMAL;
   attrs[C_DIM] = A_DIM;
   attrs[C_CURRENT] = A_REVERSE | A_BOLD;
   attrs[C_STATUS] = A_NORMAL;
   attrs[C_CODE] = A_NORMAL;
   if (!color)
      return;
   start_color();
   use_default_colors();
   init_pair(1, COLOR_WHITE, COLOR_BLUE);
   init_pair(2, COLOR_GREEN, -1);
   init_pair(3, COLOR_RED, -1);
   init_pair(4, COLOR_YELLOW, -1);
   init_pair(5, COLOR_CYAN, -1);
   init_pair(6, COLOR_BLACK, COLOR_GREEN);
   attrs[C_TITLE] = COLOR_PAIR(1) | A_BOLD;
   attrs[C_OK] = COLOR_PAIR(2) | A_BOLD;
   attrs[C_FAIL] = COLOR_PAIR(3) | A_BOLD;
   attrs[C_MISSING] = COLOR_PAIR(4);
   attrs[C_HEADING] = COLOR_PAIR(5) | A_BOLD;
   attrs[C_CODE] = COLOR_PAIR(4);
   attrs[C_CURRENT] = COLOR_PAIR(6) | A_BOLD;
}

int Draw_attr(int which) {
   return which >= 0 && which < C_COUNT ? attrs[which] : (int)A_NORMAL;
}

bool Draw_clean(const char *s) {
   size_t len = strlen(s);
   if (!Jsonscan_utf8(s, len))
      return false;
   for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
      if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
         return false;
   }
   return true;
}

/* s with each byte that is not UTF-8 and each control character as U+FFFD; caller frees. */
static char *cleaned(const char *s) {
   Sbuf in = { 0 }, out = { 0 };
   Jsonscan_put_utf8(&in, s, strlen(s));
   for (const unsigned char *p = (const unsigned char *)(in.buf ? in.buf : ""); *p; p++) {
      if (*p < 0x20 || *p == 0x7f) {
         Sbuf_puts(&out, "\xef\xbf\xbd");
      } else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
         Sbuf_puts(&out, "\xef\xbf\xbd");
         p++;
      } else {
         Sbuf_putc(&out, (char)*p);
      }
   }
   Sbuf_free(&in);
   return out.buf ? Sbuf_steal(&out) : xstrdup("");
}

static void note_unclean(const char *s) {
   const char *path = getenv("OFFRAMP_DRAW_CHECK");
   FILE *f = path && *path ? fopen(path, "a") : NULL;
   if (!f)
      return;
   for (const unsigned char *p = (const unsigned char *)s; *p; p++)
      fprintf(f, *p >= 0x20 && *p < 0x7f && *p != '\\' ? "%c" : "\\x%02x", *p);
   fputc('\n', f);
   fclose(f);
}

int Draw_text(int y, int x, int width, int attr, const char *text) {
   if (width <= 0)
      return 0;
   char *own = NULL;
   const char *s = text;
   if (!Draw_clean(text)) {
      note_unclean(text);
      s = own = cleaned(text);
   }
   int n = Md_fit(s, width);
   char *part = xstrndup(s, n);
   int w = Md_width(part);
   attrset(attr);
   mvaddstr(y, x, part);
   attrset(A_NORMAL);
   free(part);
   free(own);
   return w;
}

int Draw_wrap(const char *s, int width, char ***out) {
   char **lines = NULL;
   int n = 0;
   if (width < 1)
      width = 1;
   char *text = xstrdup(s);
   for (char *c = text; *c; c++) {
      if (*c == '\t')
         *c = ' ';
   }
   for (char *para = text; para;) {
      char *nl = strchr(para, '\n');
      if (nl)
         *nl = '\0';
      size_t plen = strlen(para);
      if (plen && para[plen - 1] == '\r')
         para[--plen] = '\0';
      const char *p = para;
      do {
         size_t fit = (size_t)Md_fit(p, width), cut = fit;
         if (p[fit]) {
            /* Break at the last space of the line unless that leaves it less than half full. */
            while (cut > fit / 2 && p[cut] != ' ')
               cut--;
            if (p[cut] != ' ' || cut == 0)
               cut = fit ? fit : 1;
         }
         lines = xrealloc(lines, (size_t)(n + 1) * sizeof *lines);
         lines[n++] = xstrndup(p, cut);
         p += cut;
         while (*p == ' ')
            p++;
      } while (*p);
      para = nl ? nl + 1 : NULL;
   }
   free(text);
   *out = lines;
   return n;
}

void Draw_free_lines(char **lines, int n) {
   for (int i = 0; i < n; i++)
      free(lines[i]);
   free(lines);
}

void Draw_fill(int y, int x, int width, int attr) {
   attrset(attr);
   for (int i = 0; i < width; i++)
      mvaddch(y, x + i, ' ');
   attrset(A_NORMAL);
}

void UText_nl(UText *t) {
   t->l = xrealloc(t->l, (t->n + 1) * sizeof *t->l);
   t->l[t->n++] = (ULine){ 0 };
}

void UText_add(UText *t, int attr, const char *fmt, ...) {
   if (t->n == 0)
      UText_nl(t);
   ULine *l = &t->l[t->n - 1];
   va_list ap;
   va_start(ap, fmt);
   char *s = xvasprintf(fmt, ap);
   va_end(ap);
   l->seg = xrealloc(l->seg, (l->n + 1) * sizeof *l->seg);
   l->seg[l->n++] = (Seg){ s, attr };
}

void UText_clear(UText *t) {
   for (int i = 0; i < t->n; i++) {
      for (int j = 0; j < t->l[i].n; j++)
         free(t->l[i].seg[j].s);
      free(t->l[i].seg);
   }
   free(t->l);
   t->l = NULL;
   t->n = 0;
}

void UText_draw(const UText *t, int from, int y, int height, int width, int cursor) {
   for (int row = 0; row < height; row++) {
      int i = from + row;
      if (i >= t->n)
         break;
      int x = 1, sel = i == cursor ? Draw_attr(C_CURSOR) : 0;
      if (sel)
         Draw_fill(y + row, 0, width, sel);
      for (int j = 0; j < t->l[i].n && x < width; j++)
         x += Draw_text(y + row, x, width - x, t->l[i].seg[j].attr | sel, t->l[i].seg[j].s);
   }
}

/* Adds s[0..n) as a segment of the last line of t. */
static void seg_add(UText *t, int attr, const char *s, size_t n) {
   ULine *l = &t->l[t->n - 1];
   l->seg = xrealloc(l->seg, (size_t)(l->n + 1) * sizeof *l->seg);
   l->seg[l->n++] = (Seg){ xstrndup(s, n), attr };
}

void UText_wrap(UText *t, int width) {
   UText out = { 0 };
   int limit = width - 1;   /* UText_draw starts at column 1 */
   for (int i = 0; i < t->n; i++) {
      const ULine *l = &t->l[i];
      UText_nl(&out);
      out.l[out.n - 1].tag = l->tag;
      /* Continuation lines start under the line's text, a little further in. */
      int indent = 0;
      if (l->n)
         indent = (int)strspn(l->seg[0].s, " ");
      indent = indent + 2 < limit / 3 ? indent + 2 : limit / 3;
      int col = 0;
      for (int j = 0; j < l->n; j++) {
         const char *p = l->seg[j].s;
         int attr = l->seg[j].attr;
         while (*p) {
            int room = limit - col, w = Md_width(p);
            if (w <= room) {
               seg_add(&out, attr, p, strlen(p));
               col += w;
               break;
            }
            size_t fit = (size_t)Md_fit(p, room > 0 ? room : 0), cut = fit;
            while (cut > 0 && p[cut] != ' ')
               cut--;
            if (cut == 0 && col > indent) {
               cut = 0;   /* nothing of this segment fits: it starts the next line */
            } else if (cut == 0) {
               cut = fit ? fit : (size_t)(mblen(p, MB_CUR_MAX) > 0 ? mblen(p, MB_CUR_MAX) : 1);
            }
            if (cut)
               seg_add(&out, attr, p, cut);
            p += cut;
            while (*p == ' ')
               p++;
            UText_nl(&out);
            out.l[out.n - 1].tag = l->tag;
            seg_add(&out, A_NORMAL, "", 0);
            free(out.l[out.n - 1].seg[0].s);
            out.l[out.n - 1].seg[0].s = xasprintf("%*s", indent, "");
            col = indent;
         }
      }
   }
   UText_clear(t);
   *t = out;
}
