/* mdview.c - lay out a cmark document as terminal lines: wrapping by display width, lists,
 * task-list checkboxes, code blocks, quotes, and pipe tables (CommonMark core leaves them
 * as paragraphs, so they are recognised here). */
#include "config.h"

#include <cmark.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "common/mdview.h"
#include "common/util.h"

int Md_width(const char *s) {
   mbstate_t ps;
   memset(&ps, 0, sizeof ps);
   int w = 0;
   size_t len = strlen(s);
   while (len > 0) {
      wchar_t wc;
      size_t k = mbrtowc(&wc, s, len, &ps);
      if (k == (size_t)-1 || k == (size_t)-2) {
         /* Not valid in this locale: one column per byte keeps layout stable. */
         memset(&ps, 0, sizeof ps);
         w++;
         s++;
         len--;
         continue;
      }
      if (k == 0)
         break;
      int cw = wcwidth(wc);
      w += cw < 0 ? 1 : cw;
      s += k;
      len -= k;
   }
   return w;
}

int Md_fit(const char *s, int cols) {
   mbstate_t ps;
   memset(&ps, 0, sizeof ps);
   int w = 0;
   size_t len = strlen(s), off = 0;
   while (off < len) {
      wchar_t wc;
      size_t k = mbrtowc(&wc, s + off, len - off, &ps);
      int cw = 1;
      if (k == (size_t)-1 || k == (size_t)-2) {
         memset(&ps, 0, sizeof ps);
         k = 1;
      } else if (k == 0) {
         break;
      } else {
         cw = wcwidth(wc);
         if (cw < 0)
            cw = 1;
      }
      if (w + cw > cols)
         break;
      w += cw;
      off += k;
   }
   return (int)off;
}

/* ---- layout state ---- */

typedef struct {
   MdDoc *doc;
   int width;
   int indent;            /* columns of indentation for the current block */
   int quote;             /* block-quote depth */
   char *marker;          /* bullet waiting to be put on the next line ("• ", "1. ", "[ ] ") */
   int check;             /* checkbox state for the next line, -1 none */
   char *check_key;
   /* the line being built */
   MdRun *runs;
   int nruns, cap;
   int col;
   bool started;
} Layout;

static void run_add(Layout *L, const char *text, size_t n, int attr) {
   if (L->nruns > 0 && L->runs[L->nruns - 1].attr == attr) {
      MdRun *r = &L->runs[L->nruns - 1];
      size_t old = strlen(r->text);
      r->text = xrealloc(r->text, old + n + 1);
      memcpy(r->text + old, text, n);
      r->text[old + n] = '\0';
      return;
   }
   if (L->nruns == L->cap)
      L->runs = xrealloc(L->runs, (L->cap = L->cap ? L->cap * 2 : 8) * sizeof *L->runs);
   L->runs[L->nruns++] = (MdRun){ xstrndup(text, n), attr };
}

/* Start a line: quote bars, indentation, and a pending list marker. */
static void line_begin(Layout *L) {
   if (L->started)
      return;
   L->started = true;
   L->col = 0;
   for (int i = 0; i < L->quote; i++) {
      run_add(L, "\xe2\x94\x82 ", 4, MD_DIM);   /* "│ " */
      L->col += 2;
   }
   int pad = L->indent;
   if (L->marker) {
      int mw = Md_width(L->marker);
      pad -= mw;
      if (pad < 0)
         pad = 0;
   }
   for (int i = 0; i < pad; i++)
      run_add(L, " ", 1, 0);
   L->col += pad;
   if (L->marker) {
      run_add(L, L->marker, strlen(L->marker), L->check >= 0 ? MD_BOLD : 0);
      L->col += Md_width(L->marker);
      free(L->marker);
      L->marker = NULL;
   }
}

static void line_end(Layout *L) {
   line_begin(L);
   MdDoc *d = L->doc;
   d->lines = xrealloc(d->lines, (d->n + 1) * sizeof *d->lines);
   MdLine *l = &d->lines[d->n++];
   l->runs = L->runs;
   l->nruns = L->nruns;
   l->check = L->check;
   l->key = L->check_key;
   L->check = -1;
   L->check_key = NULL;
   L->runs = NULL;
   L->nruns = L->cap = 0;
   L->started = false;
}

static void blank_line(Layout *L) {
   MdDoc *d = L->doc;
   if (d->n == 0 || (d->lines[d->n - 1].nruns == 0))
      return;
   /* Quote bars continue through blank lines inside a quote. */
   int saved = L->indent;
   char *m = L->marker;
   L->marker = NULL;
   L->indent = 0;
   line_end(L);
   L->indent = saved;
   L->marker = m;
}

/* Add a word (no spaces), wrapping first when it does not fit. */
static void add_word(Layout *L, const char *w, size_t n, int attr, bool space_before) {
   char *tmp = xstrndup(w, n);
   int ww = Md_width(tmp);
   line_begin(L);
   bool at_start = L->col <= L->indent + 2 * L->quote;
   if (!at_start && L->col + (space_before ? 1 : 0) + ww > L->width) {
      line_end(L);
      line_begin(L);
      at_start = true;
   }
   if (space_before && !at_start) {
      run_add(L, " ", 1, 0);
      L->col++;
   }
   run_add(L, tmp, n, attr);
   L->col += ww;
   free(tmp);
}

/* Inline content flattened to (text, attr) pieces before wrapping. */
typedef struct {
   Sbuf text;
   int *attrs;   /* one per byte */
   size_t cap;
} Inline;

static void inline_add(Inline *in, const char *s, int attr) {
   size_t n = strlen(s);
   Sbuf_add(&in->text, s, n);
   if (in->text.len > in->cap) {
      in->cap = in->text.len * 2;
      in->attrs = xrealloc(in->attrs, in->cap * sizeof *in->attrs);
   }
   for (size_t i = in->text.len - n; i < in->text.len; i++)
      in->attrs[i] = attr;
}

static void collect_inline(cmark_node *n, int attr, Inline *in) {
   for (cmark_node *c = cmark_node_first_child(n); c; c = cmark_node_next(c)) {
      switch (cmark_node_get_type(c)) {
      case CMARK_NODE_TEXT:
      case CMARK_NODE_HTML_INLINE:
         inline_add(in, cmark_node_get_literal(c), attr);
         break;
      case CMARK_NODE_CODE:
         inline_add(in, cmark_node_get_literal(c), attr | MD_CODE);
         break;
      case CMARK_NODE_SOFTBREAK:
         inline_add(in, "\n", attr);
         break;
      case CMARK_NODE_LINEBREAK:
         inline_add(in, "\r", attr);
         break;
      case CMARK_NODE_STRONG:
         collect_inline(c, attr | MD_BOLD, in);
         break;
      case CMARK_NODE_EMPH:
         collect_inline(c, attr | MD_EMPH, in);
         break;
      case CMARK_NODE_LINK:
      case CMARK_NODE_IMAGE:
      default:
         collect_inline(c, attr, in);
         break;
      }
   }
}

/* Wrap inline text: split at spaces and soft breaks; a hard break ends the line. */
static void flow(Layout *L, const Inline *in) {
   const char *s = in->text.buf ? in->text.buf : "";
   size_t n = in->text.len, i = 0;
   bool space = false;
   while (i < n) {
      if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t') {
         space = true;
         i++;
         continue;
      }
      if (s[i] == '\r') {
         line_end(L);
         space = false;
         i++;
         continue;
      }
      /* A word is a run of non-space bytes with one attribute. */
      size_t j = i;
      while (j < n && s[j] != ' ' && s[j] != '\n' && s[j] != '\t' && s[j] != '\r' && in->attrs[j] == in->attrs[i])
         j++;
      add_word(L, s + i, j - i, in->attrs[i], space);
      space = false;
      i = j;
   }
   if (L->started || L->marker)
      line_end(L);
}

static bool is_table(const char *text) {
   if (!text || text[0] != '|')
      return false;
   for (const char *p = text; *p; p++) {
      if (*p == '\n' && p[1] && p[1] != '|')
         return false;
   }
   return strchr(text, '\n') != NULL;
}

static int split_cells(char *row, char **cells, int max) {
   int n = 0;
   char *p = row;
   if (*p == '|')
      p++;
   while (*p && n < max) {
      char *bar = strchr(p, '|');
      if (bar)
         *bar = '\0';
      cells[n++] = str_trim(p);
      if (!bar)
         break;
      p = bar + 1;
      if (!*str_trim(p) && !strchr(p, '|'))
         break;
   }
   return n;
}

static bool is_separator(char **cells, int n) {
   for (int i = 0; i < n; i++) {
      for (const char *p = cells[i]; *p; p++) {
         if (*p != '-' && *p != ':' && *p != ' ')
            return false;
      }
   }
   return n > 0;
}

#define TABLE_MAX_COLS 8
#define TABLE_MAX_ROWS 64

static void emit_table(Layout *L, const char *text) {
   char *copy = xstrdup(text);
   char *rows[TABLE_MAX_ROWS];
   char *cells[TABLE_MAX_ROWS][TABLE_MAX_COLS];
   int ncells[TABLE_MAX_ROWS], nrows = 0, ncols = 0, widths[TABLE_MAX_COLS] = { 0 };
   for (char *save = NULL, *r = strtok_r(copy, "\n", &save); r && nrows < TABLE_MAX_ROWS;
        r = strtok_r(NULL, "\n", &save)) {
      rows[nrows] = r;
      ncells[nrows] = split_cells(r, cells[nrows], TABLE_MAX_COLS);
      if (is_separator(cells[nrows], ncells[nrows]))
         continue;
      for (int c = 0; c < ncells[nrows]; c++) {
         int w = Md_width(cells[nrows][c]);
         if (w > widths[c])
            widths[c] = w;
      }
      if (ncells[nrows] > ncols)
         ncols = ncells[nrows];
      nrows++;
   }
   (void)rows;
   for (int r = 0; r < nrows; r++) {
      line_begin(L);
      for (int c = 0; c < ncols; c++) {
         const char *cell = c < ncells[r] ? cells[r][c] : "";
         int pad = widths[c] - Md_width(cell) + (c + 1 < ncols ? 2 : 0);
         run_add(L, cell, strlen(cell), r == 0 ? MD_BOLD : 0);
         for (int k = 0; k < pad && c + 1 < ncols; k++)
            run_add(L, " ", 1, 0);
      }
      line_end(L);
      if (r == 0) {
         line_begin(L);
         for (int c = 0; c < ncols; c++) {
            for (int k = 0; k < widths[c]; k++)
               run_add(L, "\xe2\x94\x80", 3, MD_DIM);   /* "─" */
            if (c + 1 < ncols)
               run_add(L, "  ", 2, 0);
         }
         line_end(L);
      }
   }
   free(copy);
}

static void render_block(Layout *L, cmark_node *n, bool tight);

/* "[ ] text" / "[x] text" at the start of a list item's first paragraph. */
static int task_marker(cmark_node *item) {
   cmark_node *para = cmark_node_first_child(item);
   if (!para || cmark_node_get_type(para) != CMARK_NODE_PARAGRAPH)
      return -1;
   cmark_node *t = cmark_node_first_child(para);
   if (!t || cmark_node_get_type(t) != CMARK_NODE_TEXT)
      return -1;
   const char *s = cmark_node_get_literal(t);
   if (strncmp(s, "[ ] ", 4) == 0)
      return 0;
   if (strncmp(s, "[x] ", 4) == 0 || strncmp(s, "[X] ", 4) == 0)
      return 1;
   return -1;
}

static void render_children(Layout *L, cmark_node *n, bool tight) {
   for (cmark_node *c = cmark_node_first_child(n); c; c = cmark_node_next(c))
      render_block(L, c, tight);
}

static void render_list(Layout *L, cmark_node *list) {
   bool ordered = cmark_node_get_list_type(list) == CMARK_ORDERED_LIST;
   bool tight = cmark_node_get_list_tight(list);
   int num = cmark_node_get_list_start(list);
   bool utf8 = MB_CUR_MAX > 1;
   for (cmark_node *item = cmark_node_first_child(list); item; item = cmark_node_next(item), num++) {
      int check = task_marker(item);
      char marker[16];
      if (check >= 0)
         snprintf(marker, sizeof marker, "[%c] ", check ? 'x' : ' ');
      else if (ordered)
         snprintf(marker, sizeof marker, "%d. ", num);
      else
         snprintf(marker, sizeof marker, "%s ", utf8 ? "\xe2\x80\xa2" : "*");
      int saved = L->indent;
      L->indent += Md_width(marker);
      free(L->marker);
      L->marker = xstrdup(marker);
      if (check >= 0) {
         /* Drop the "[ ] " from the text; keep the rest as the item's key. */
         cmark_node *t = cmark_node_first_child(cmark_node_first_child(item));
         const char *lit = cmark_node_get_literal(t);
         char *rest = xstrdup(lit + 4);
         cmark_node_set_literal(t, rest);
         free(rest);
         Inline in = { 0 };
         collect_inline(cmark_node_first_child(item), 0, &in);
         char *key = xstrdup(in.text.buf ? in.text.buf : "");
         for (char *p = key; *p; p++)
            if (*p == '\n' || *p == '\r')
               *p = ' ';
         L->check = check;
         L->check_key = str_trim(key);
         L->doc->nchecks++;
         Sbuf_free(&in.text);
         free(in.attrs);
      }
      render_children(L, item, tight);
      L->indent = saved;
   }
   if (!tight || L->indent == 0)
      blank_line(L);
}

static void render_block(Layout *L, cmark_node *n, bool tight) {
   switch (cmark_node_get_type(n)) {
   case CMARK_NODE_HEADING: {
      Inline in = { 0 };
      int level = cmark_node_get_heading_level(n);
      collect_inline(n, MD_BOLD | MD_HEADING, &in);
      if (level == 1 && in.text.buf) {
         for (char *p = in.text.buf; *p; p++)
            if (*p >= 'a' && *p <= 'z')
               *p -= 32;
      }
      flow(L, &in);
      Sbuf_free(&in.text);
      free(in.attrs);
      blank_line(L);
      break;
   }
   case CMARK_NODE_PARAGRAPH: {
      Inline in = { 0 };
      collect_inline(n, 0, &in);
      if (is_table(in.text.buf))
         emit_table(L, in.text.buf);
      else
         flow(L, &in);
      Sbuf_free(&in.text);
      free(in.attrs);
      if (!tight)
         blank_line(L);
      break;
   }
   case CMARK_NODE_CODE_BLOCK: {
      char *code = xstrdup(cmark_node_get_literal(n));
      size_t len = strlen(code);
      if (len && code[len - 1] == '\n')
         code[len - 1] = '\0';
      L->indent += 2;
      for (char *save = NULL, *line = code, *nl; line; line = nl) {
         nl = strchr(line, '\n');
         if (nl)
            *nl++ = '\0';
         line_begin(L);
         run_add(L, line, strlen(line), MD_CODE);
         line_end(L);
         (void)save;
      }
      L->indent -= 2;
      free(code);
      blank_line(L);
      break;
   }
   case CMARK_NODE_LIST:
      render_list(L, n);
      break;
   case CMARK_NODE_BLOCK_QUOTE:
      L->quote++;
      render_children(L, n, false);
      L->quote--;
      blank_line(L);
      break;
   case CMARK_NODE_THEMATIC_BREAK:
      line_begin(L);
      for (int i = L->col; i < L->width; i++)
         run_add(L, "\xe2\x94\x80", 3, MD_DIM);
      line_end(L);
      blank_line(L);
      break;
   case CMARK_NODE_HTML_BLOCK: {
      Inline in = { 0 };
      inline_add(&in, cmark_node_get_literal(n), MD_DIM);
      flow(L, &in);
      Sbuf_free(&in.text);
      free(in.attrs);
      break;
   }
   default:
      render_children(L, n, tight);
      break;
   }
}

MdDoc *Md_render(const char *markdown, int width) {
   MdDoc *d = xcalloc(1, sizeof *d);
   cmark_node *root = cmark_parse_document(markdown, strlen(markdown), CMARK_OPT_DEFAULT);
   Layout L = { .doc = d, .width = width < 20 ? 20 : width, .check = -1 };
   render_children(&L, root, false);
   if (L.started)
      line_end(&L);
   /* No trailing blank line. */
   while (d->n > 0 && d->lines[d->n - 1].nruns == 0)
      d->n--;
   free(L.marker);
   free(L.runs);
   cmark_node_free(root);
   return d;
}

void Md_free(MdDoc *d) {
   if (!d)
      return;
   for (int i = 0; i < d->n; i++) {
      for (int r = 0; r < d->lines[i].nruns; r++)
         free(d->lines[i].runs[r].text);
      free(d->lines[i].runs);
      free(d->lines[i].key);
   }
   free(d->lines);
   free(d);
}

char *Md_line_text(const MdLine *l) {
   Sbuf sb = { 0 };
   for (int r = 0; r < l->nruns; r++)
      Sbuf_puts(&sb, l->runs[r].text);
   return Sbuf_steal(&sb);
}
