/* mdview.h - CommonMark to wrapped, styled text lines (cmark), for the runbook viewer and
 * the CLI. No curses here: the console maps styles to attributes. */
#ifndef OFFRAMP_MDVIEW_H
#define OFFRAMP_MDVIEW_H

#include <stdbool.h>

enum { MD_BOLD = 1, MD_EMPH = 2, MD_CODE = 4, MD_HEADING = 8, MD_DIM = 16 };

typedef struct {
   char *text;
   int attr;          /* MD_* bits */
} MdRun;

typedef struct {
   MdRun *runs;
   int nruns;
   int check;         /* -1: not a task-list item; 0 unchecked; 1 checked */
   char *key;         /* the item's text, which checklist state is stored under */
} MdLine;

typedef struct {
   MdLine *lines;
   int n;
   int nchecks;       /* task-list items in the document */
} MdDoc;

/* Render markdown into lines at most width display columns wide. Task-list items start
 * unchecked ("[x]" in the source starts checked). */
MdDoc *Md_render(const char *markdown, int width);
void Md_free(MdDoc *d);

/* The line as plain UTF-8 (runs concatenated); caller frees. */
char *Md_line_text(const MdLine *l);

/* Display width of a UTF-8 string in the current locale. */
int Md_width(const char *s);
/* Byte length of the longest prefix of s that fits in cols display columns. */
int Md_fit(const char *s, int cols);

#endif
