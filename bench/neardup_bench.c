/* neardup_bench.c - times Neardup_group on synthetic support messages with planted near and exact
 * duplicates, and scores it against ground truth computed here with plain string shingles. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/neardup.h"
#include "common/util.h"

#define BAR_SECONDS 3.0
#define BAR_PRECISION 0.95
#define BAR_RECALL 0.95
#define NEAR_RATE 0.05  /* share of messages that get 1-2 edited copies */
#define EXACT_RATE 0.01 /* share that get a copy differing only in case, spacing, punctuation */
#define PAIR_EVAL_MAX 1000000
#define PAIR_SAMPLE 200000

/* ---- seeded PRNG (splitmix64): the data set must be the same on every machine ------------- */

static uint64_t rng_state;

static uint64_t rng_next(void) {
   uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
   z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
   return z ^ (z >> 31);
}

static size_t rng_below(size_t n) {
   return (size_t)(rng_next() % n);
}

static double rng_unit(void) {
   return (double)(rng_next() >> 11) / 9007199254740992.0;
}

#define PICK(list) (list)[rng_below(ARRAY_SIZE(list))]

/* ---- vocabulary ---------------------------------------------------------------------------- */

static const char *const names[] = {"anna", "ben", "carla", "dev", "elena", "farid", "grace",
   "hiro", "ines", "jamal", "kate", "liam", "maya", "noah", "olga", "pedro", "quinn", "rosa",
   "sam", "tara", "umar", "vera", "will", "xena", "yusuf", "zoe", "priya", "marco", "lena",
   "tom"};
static const char *const products[] = {"laptop", "phone", "headphones", "router", "blender",
   "coffee machine", "smart watch", "vacuum cleaner", "gift card", "subscription", "printer",
   "monitor", "keyboard", "tablet", "camera", "speaker", "charger", "mattress", "desk chair",
   "air fryer", "e-reader", "backpack", "running shoes", "winter jacket", "sofa", "lamp",
   "microwave", "drone", "guitar", "bike helmet"};
static const char *const issues[] = {"stopped working", "will not turn on", "keeps restarting",
   "makes a loud noise", "is overheating", "has a cracked screen", "is missing a part",
   "does not charge", "disconnects all the time", "shows the wrong time", "smells like burning",
   "is the wrong color", "arrived broken", "is much smaller than pictured", "drains the battery",
   "freezes on the logo", "leaks water", "has no sound", "will not pair", "is very slow"};
static const char *const conditions[] = {"damaged", "late", "without the box", "opened",
   "two days late", "in the wrong size", "soaking wet", "with a missing manual",
   "in perfect shape", "at the wrong address"};
static const char *const days[] = {"monday", "tuesday", "wednesday", "thursday", "friday",
   "saturday", "sunday", "last week", "yesterday", "the weekend", "march 3", "april 12",
   "may 20", "june 1", "july 15", "august 9", "september 30", "october 4", "november 18",
   "december 22"};
static const char *const durations[] = {"two days", "a week", "three weeks", "a month",
   "an hour", "ten minutes", "five years", "a long time", "since january", "two hours"};
static const char *const actions[] = {"reset it", "log in", "update the firmware",
   "cancel my order", "return the item", "change my password", "apply the coupon",
   "download the invoice", "track the package", "contact the seller", "reinstall the app",
   "turn it off and on", "use a different cable", "clear the cache", "pay with paypal",
   "change the delivery date", "add a second user", "export my data", "unsubscribe",
   "connect to wifi"};
static const char *const requests[] = {"send a replacement", "refund my money",
   "tell me what to do", "escalate this to a manager", "call me back", "check my account",
   "cancel the subscription", "fix the billing", "send a return label",
   "extend my warranty", "confirm the new address", "remove the duplicate charge",
   "update my email", "close my account", "explain the fee"};
static const char *const feelings[] = {"really frustrating", "not acceptable",
   "very disappointing", "a bit confusing", "the third time this happens", "quite urgent",
   "annoying", "unbelievable", "costing me money", "not what i expected"};
static const char *const channels[] = {"email", "chat", "phone", "twitter", "the contact form",
   "the app", "facebook", "the store"};
static const char *const statuses[] = {"in transit", "label created", "out for delivery",
   "delivered", "held at customs", "returned to sender", "processing", "delayed"};
static const char *const payments[] = {"visa card", "mastercard", "paypal account",
   "bank account", "gift card", "apple pay", "debit card", "store credit"};
static const char *const places[] = {"berlin", "the office", "my parents house", "london",
   "a pickup point", "madrid", "the new apartment", "warsaw", "lyon", "my neighbour"};
static const char *const fillers[] = {"really", "just", "also", "still", "again", "now",
   "today", "please", "actually", "maybe", "definitely", "probably", "honestly", "already",
   "quickly", "finally", "very", "new", "old", "other", "same", "second", "whole", "small",
   "big", "order", "item", "account", "help", "issue", "problem", "thing", "support", "time"};

/* Sentence templates; each {slot} is one of the lists above, {num}/{amount}/{code} random. */
static const char *const templates[] = {
   "hi my name is {name} and i need help with my {product}",
   "i ordered a {product} on {day} and it arrived {condition}",
   "my order number is {num}",
   "the {product} {issue} after {duration}",
   "i tried to {action} but it still {issue}",
   "can you please {request}",
   "i have been a customer for {duration} and this is {feeling}",
   "the tracking page says {status} since {day}",
   "i was charged {amount} twice on my {payment}",
   "please {request} as soon as possible",
   "thanks in advance {name}",
   "is there a way to {action} without calling",
   "i contacted you via {channel} {duration} ago but nobody answered",
   "the app shows error code {code} when i try to {action}",
   "i want to change the delivery address to {places}",
   "my account is locked after i tried to {action}",
   "the replacement {product} also {issue}",
   "how long does it take to {request}",
   "your agent on {channel} told me to {action} but that did not help",
   "i paid {amount} with my {payment} on {day}",
   "the invoice for order {num} shows the wrong amount",
   "honestly this is {feeling}",
   "i need the {product} before {day} because it is a gift",
   "could you {request} for order {num}",
};

/* ---- texts --------------------------------------------------------------------------------- */

typedef struct {
   const char **w; /* normalised words: what the detector should see after normalising */
   size_t n;
   size_t fam;     /* planted family (base message and its copies) */
} Words;

typedef struct {
   const char **v;
   size_t len, cap;
} Strs;

typedef struct {
   size_t *v;
   size_t len, cap;
} Sizes;

static void Sizes_push(Sizes *s, size_t x) {
   if (s->len == s->cap) {
      s->cap = s->cap ? s->cap * 2 : 16;
      s->v = xrealloc(s->v, s->cap * sizeof *s->v);
   }
   s->v[s->len++] = x;
}

static void Strs_push(Strs *s, const char *x) {
   if (s->len == s->cap) {
      s->cap = s->cap ? s->cap * 2 : 64;
      s->v = xrealloc(s->v, s->cap * sizeof *s->v);
   }
   s->v[s->len++] = x;
}

/* One copy of every distinct word, so the bench's own memory stays small beside the detector's. */
static const char *intern(const char *s, size_t n) {
   static const char **slots;
   static size_t mask, used;
   if (2 * (used + 1) > mask) {
      size_t cap = mask ? 2 * (mask + 1) : 1024;
      const char **ns = xcalloc(cap, sizeof *ns);
      for (size_t i = 0; mask && i <= mask; i++) {
         if (!slots[i])
            continue;
         size_t h = (size_t)hash64_str(slots[i]) & (cap - 1);
         while (ns[h])
            h = (h + 1) & (cap - 1);
         ns[h] = slots[i];
      }
      free(slots);
      slots = ns;
      mask = cap - 1;
   }
   size_t h = (size_t)hash64(s, n) & mask;
   for (; slots[h]; h = (h + 1) & mask)
      if (strncmp(slots[h], s, n) == 0 && slots[h][n] == '\0')
         return slots[h];
   used++;
   return slots[h] = xstrndup(s, n);
}

/* Multi-word slot values are split into words. */
static void push_phrase(Strs *out, const char *phrase) {
   const char *p = phrase;
   while (*p) {
      const char *e = strchr(p, ' ');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      Strs_push(out, intern(p, n));
      p += n;
      while (*p == ' ')
         p++;
   }
}

static void slot(Strs *out, const char *name, size_t len) {
   char buf[32];
#define SLOT(s, list) \
   if (len == strlen(s) && strncmp(name, s, len) == 0) { push_phrase(out, PICK(list)); return; }
   SLOT("name", names)
   SLOT("product", products)
   SLOT("issue", issues)
   SLOT("condition", conditions)
   SLOT("day", days)
   SLOT("duration", durations)
   SLOT("action", actions)
   SLOT("request", requests)
   SLOT("feeling", feelings)
   SLOT("channel", channels)
   SLOT("status", statuses)
   SLOT("payment", payments)
   SLOT("places", places)
#undef SLOT
   if (strncmp(name, "num", len) == 0)
      snprintf(buf, sizeof buf, "%u", 1000000u + (unsigned)rng_below(9000000));
   else if (strncmp(name, "amount", len) == 0)
      snprintf(buf, sizeof buf, "%u.%02u", 5u + (unsigned)rng_below(495), (unsigned)rng_below(100));
   else
      snprintf(buf, sizeof buf, "e%u", 100u + (unsigned)rng_below(900));
   Strs_push(out, intern(buf, strlen(buf)));
}

/* A message of 15-60 words made of template sentences; ends[] marks sentence ends for layout. */
static void gen_message(Strs *out, Sizes *ends) {
   size_t target = 15 + rng_below(46);
   out->len = 0;
   ends->len = 0;
   while (out->len < target) {
      const char *t = PICK(templates);
      while (*t) {
         if (*t == '{') {
            const char *e = strchr(t, '}');
            slot(out, t + 1, (size_t)(e - t - 1));
            t = e + 1;
         } else {
            const char *e = t;
            while (*e && *e != ' ' && *e != '{')
               e++;
            if (e > t)
               Strs_push(out, intern(t, (size_t)(e - t)));
            t = e;
         }
         while (*t == ' ')
            t++;
      }
      Sizes_push(ends, out->len);
   }
   out->len = target;
}

/* Renders words as a message a person would type; messy=true varies only what normalisation
 * removes (case, spacing, edge punctuation), so the result is an exact duplicate. */
static char *render(const Words *t, const Sizes *ends, bool messy) {
   Sbuf sb = {0};
   size_t e = 0;
   bool start = true;
   for (size_t i = 0; i < t->n; i++) {
      if (i > 0)
         Sbuf_puts(&sb, messy && rng_below(4) == 0 ? (rng_below(2) ? "  " : " \n\t") : " ");
      const char *w = t->w[i];
      bool upper = messy ? rng_below(5) == 0 : false;
      if (messy && rng_below(15) == 0)
         Sbuf_putc(&sb, '"');
      for (size_t k = 0; w[k]; k++) {
         char c = w[k];
         if ((k == 0 && start) || upper || (str_eq(w, "i") && !messy))
            c = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
         Sbuf_putc(&sb, c);
      }
      start = false;
      while (ends && e < ends->len && ends->v[e] < i + 1)
         e++;
      if (ends && e < ends->len && ends->v[e] == i + 1) {
         Sbuf_puts(&sb, messy ? (rng_below(2) ? "!!" : "...") : (rng_below(5) ? "." : "?"));
         start = true;
      } else if (messy && rng_below(12) == 0) {
         Sbuf_putc(&sb, ',');
      }
   }
   if (!start)
      Sbuf_putc(&sb, '.');
   return Sbuf_steal(&sb);
}

/* 1-3 word substitutions, insertions or deletions, as a person editing a retry would make. */
static Words edit_copy(const Words *src) {
   Words c = {xmalloc((src->n + 3) * sizeof *c.w), src->n, src->fam};
   memcpy(c.w, src->w, src->n * sizeof *c.w);
   size_t edits = 1 + (rng_unit() < 0.5 ? 0 : rng_unit() < 0.6 ? 1 : 2);
   for (size_t k = 0; k < edits; k++) {
      int kind = (int)rng_below(3);
      if (kind == 2 && c.n <= 10)
         kind = 0;
      size_t pos = rng_below(c.n + (kind == 1));
      if (kind == 0) {
         c.w[pos] = PICK(fillers);
      } else if (kind == 1) {
         memmove(c.w + pos + 1, c.w + pos, (c.n - pos) * sizeof *c.w);
         c.w[pos] = PICK(fillers);
         c.n++;
      } else {
         memmove(c.w + pos, c.w + pos + 1, (c.n - pos - 1) * sizeof *c.w);
         c.n--;
      }
   }
   return c;
}

/* ---- ground truth: exact Jaccard from string shingles, independent of neardup.c ------------ */

static int cmp_str(const void *a, const void *b) {
   return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t shingle_strings(const Words *t, int k, char ***out) {
   size_t kk = t->n < (size_t)k ? t->n : (size_t)k;
   size_t count = t->n ? t->n - kk + 1 : 0;
   char **s = xmalloc((count ? count : 1) * sizeof *s);
   for (size_t i = 0; i < count; i++) {
      Sbuf sb = {0};
      for (size_t j = 0; j < kk; j++) {
         if (j)
            Sbuf_putc(&sb, ' ');
         Sbuf_puts(&sb, t->w[i + j]);
      }
      s[i] = Sbuf_steal(&sb);
   }
   qsort(s, count, sizeof *s, cmp_str);
   size_t u = 0;
   for (size_t i = 0; i < count; i++) {
      if (u && strcmp(s[i], s[u - 1]) == 0)
         free(s[i]);
      else
         s[u++] = s[i];
   }
   *out = s;
   return u;
}

static double true_jaccard(const Words *a, const Words *b, int k) {
   char **sa, **sb;
   size_t na = shingle_strings(a, k, &sa), nb = shingle_strings(b, k, &sb);
   size_t i = 0, j = 0, inter = 0;
   while (i < na && j < nb) {
      int c = strcmp(sa[i], sb[j]);
      if (c < 0) {
         i++;
      } else if (c > 0) {
         j++;
      } else {
         inter++;
         i++;
         j++;
      }
   }
   for (size_t x = 0; x < na; x++)
      free(sa[x]);
   for (size_t x = 0; x < nb; x++)
      free(sb[x]);
   free(sa);
   free(sb);
   if (na + nb == 0)
      return 1.0;
   return (double)inter / (double)(na + nb - inter);
}

static size_t find_root(size_t *p, size_t x) {
   while (p[x] != x)
      x = p[x] = p[p[x]];
   return x;
}

typedef struct {
   size_t a, b; /* positions in the final (shuffled) order */
   bool exact;
   double j;
} Planted;

typedef struct {
   size_t a, b;
   bool near;
} Pair;

static long peak_rss_kb(void) {
   struct rusage ru;
   getrusage(RUSAGE_SELF, &ru);
   return ru.ru_maxrss;
}

static int cmp_by_group(const void *x, const void *y, void *g) {
   const size_t *grp = g;
   size_t a = *(const size_t *)x, b = *(const size_t *)y;
   if (grp[a] != grp[b])
      return grp[a] < grp[b] ? -1 : 1;
   return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
   long n_arg = 100000, seed_arg = 42;
   if ((argc > 1 && (!parse_long(argv[1], &n_arg) || n_arg < 2)) ||
       (argc > 2 && !parse_long(argv[2], &seed_arg)))
      die(2, "usage: neardup_bench [N>=2 texts, default 100000] [SEED, default 42]");
   size_t n = (size_t)n_arg;
   rng_state = (uint64_t)seed_arg;
   NeardupParams prm;
   Neardup_defaults(&prm);

   /* Generate families in creation order, then shuffle so copies are not next to their base. */
   double g0 = mono_seconds();
   Words *gen = xmalloc(n * sizeof *gen);
   char **gen_text = xmalloc(n * sizeof *gen_text);
   Planted *planted = xmalloc(n * sizeof *planted);
   size_t nplanted = 0, fam = 0, count = 0;
   Strs words = {0};
   Sizes ends = {0};
   while (count < n) {
      gen_message(&words, &ends);
      Words base = {xmalloc(words.len * sizeof *base.w), words.len, fam++};
      memcpy(base.w, words.v, words.len * sizeof *base.w);
      size_t bi = count++;
      gen[bi] = base;
      gen_text[bi] = render(&base, &ends, false);
      if (rng_unit() < NEAR_RATE) {
         size_t copies = 1 + rng_below(2);
         for (size_t c = 0; c < copies && count < n; c++) {
            size_t ci = count++;
            gen[ci] = edit_copy(&base);
            gen_text[ci] = render(&gen[ci], NULL, false);
            planted[nplanted++] = (Planted){bi, ci, false, 0};
         }
      }
      if (count < n && rng_unit() < EXACT_RATE) {
         size_t ci = count++;
         gen[ci] = base;
         gen_text[ci] = render(&base, &ends, true);
         planted[nplanted++] = (Planted){bi, ci, true, 1.0};
      }
   }
   size_t *pos = xmalloc(n * sizeof *pos); /* creation index -> shuffled position */
   size_t *order = xmalloc(n * sizeof *order);
   for (size_t i = 0; i < n; i++)
      order[i] = i;
   for (size_t i = n - 1; i > 0; i--) {
      size_t j = rng_below(i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
   }
   Words *txt = xmalloc(n * sizeof *txt);
   const char **texts = xmalloc(n * sizeof *texts);
   for (size_t i = 0; i < n; i++) {
      pos[order[i]] = i;
      txt[i] = gen[order[i]];
      texts[i] = gen_text[order[i]];
   }
   for (size_t k = 0; k < nplanted; k++) {
      planted[k].a = pos[planted[k].a];
      planted[k].b = pos[planted[k].b];
   }
   double gen_s = mono_seconds() - g0;
   long rss_before = peak_rss_kb();

   /* The measured call. */
   size_t *group = xmalloc(n * sizeof *group);
   bool *exact = xmalloc(n * sizeof *exact);
   double t0 = mono_seconds();
   size_t groups = Neardup_group(texts, n, &prm, group, exact);
   double secs = mono_seconds() - t0;
   long rss_after = peak_rss_kb();

   /* Ground truth: true Jaccard of every planted pair; families whose members are chained by
    * pairs >= threshold form the true groups a connected-components detector should report. */
   size_t *gt = xmalloc(n * sizeof *gt);
   for (size_t i = 0; i < n; i++)
      gt[i] = i;
   size_t pos_near = 0, found_near = 0, neg_near = 0, exact_pairs = 0, exact_ok = 0,
          neg_grouped = 0;
   for (size_t k = 0; k < nplanted; k++) {
      Planted *pl = &planted[k];
      if (!pl->exact)
         pl->j = true_jaccard(&txt[pl->a], &txt[pl->b], prm.shingle);
      bool same = group[pl->a] == group[pl->b];
      if (pl->exact) {
         exact_pairs++;
         size_t later = pl->a > pl->b ? pl->a : pl->b;
         exact_ok += same && exact[later];
      } else if (pl->j >= prm.threshold) {
         pos_near++;
         found_near += same;
      } else {
         neg_near++;
         neg_grouped += same;
      }
      if (pl->j >= prm.threshold) {
         size_t ra = find_root(gt, pl->a), rb = find_root(gt, pl->b);
         gt[ra] = rb;
      }
   }
   /* Copies of one base were edited independently; link them too where they are >= threshold. */
   for (size_t k = 0; k < nplanted; k++)
      for (size_t l = k + 1; l < nplanted && planted[l].a == planted[k].a; l++)
         if (true_jaccard(&txt[planted[k].b], &txt[planted[l].b], prm.shingle) >= prm.threshold) {
            size_t ra = find_root(gt, planted[k].b), rb = find_root(gt, planted[l].b);
            gt[ra] = rb;
         }

   /* Precision over pairs the detector put in one group (all of them, or a uniform sample). */
   size_t *idx = xmalloc(n * sizeof *idx);
   for (size_t i = 0; i < n; i++)
      idx[i] = i;
   qsort_r(idx, n, sizeof *idx, cmp_by_group, group);
   size_t *gstart = xmalloc((n + 1) * sizeof *gstart);
   double *cum = xmalloc((n + 1) * sizeof *cum);
   size_t ng = 0;
   double total_pairs = 0;
   for (size_t i = 0; i < n;) {
      size_t e = i;
      while (e < n && group[idx[e]] == group[idx[i]])
         e++;
      double s = (double)(e - i);
      gstart[ng] = i;
      cum[ng] = total_pairs;
      total_pairs += s * (s - 1) / 2;
      ng++;
      i = e;
   }
   gstart[ng] = n;
   cum[ng] = total_pairs;
   size_t largest = 0;
   for (size_t g = 0; g < ng; g++)
      if (gstart[g + 1] - gstart[g] > largest)
         largest = gstart[g + 1] - gstart[g];
   bool sampled = total_pairs > PAIR_EVAL_MAX;
   size_t todo = sampled ? PAIR_SAMPLE : (size_t)total_pairs;
   Pair *pairs = xmalloc((todo ? todo : 1) * sizeof *pairs);
   size_t g_it = 0, x_it = 0, y_it = 1;
   for (size_t k = 0; k < todo; k++) {
      size_t a, b;
      if (sampled) {
         double r = rng_unit() * total_pairs;
         size_t lo = 0, hi = ng;
         while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (cum[mid] <= r)
               lo = mid;
            else
               hi = mid;
         }
         size_t s = gstart[lo + 1] - gstart[lo];
         size_t x = rng_below(s), y = rng_below(s - 1);
         y += y >= x;
         a = idx[gstart[lo] + x];
         b = idx[gstart[lo] + y];
      } else {
         while (y_it >= gstart[g_it + 1] - gstart[g_it]) {
            x_it++;
            y_it = x_it + 1;
            if (y_it >= gstart[g_it + 1] - gstart[g_it]) {
               g_it++;
               x_it = 0;
               y_it = 1;
            }
         }
         a = idx[gstart[g_it] + x_it];
         b = idx[gstart[g_it] + y_it];
         y_it++;
      }
      bool near = true_jaccard(&txt[a], &txt[b], prm.shingle) >= prm.threshold;
      pairs[k] = (Pair){a, b, near};
      /* Unplanted look-alikes (short messages from one template) are true edges too. */
      if (near) {
         size_t ra = find_root(gt, a), rb = find_root(gt, b);
         gt[ra] = rb;
      }
   }
   size_t evaluated = todo, strict_ok = 0, chain_ok = 0;
   for (size_t k = 0; k < todo; k++) {
      strict_ok += pairs[k].near;
      chain_ok += pairs[k].near || find_root(gt, pairs[k].a) == find_root(gt, pairs[k].b);
   }
   double precision = evaluated ? (double)chain_ok / (double)evaluated : 1.0;
   double strict = evaluated ? (double)strict_ok / (double)evaluated : 1.0;
   double recall = pos_near ? (double)found_near / (double)pos_near : 0.0;

   int bands, rows;
   Neardup_bands(&prm, &bands, &rows);
   char nbuf[32], gbuf[32], pbuf[32];
   printf("neardup bench: %s texts (15-60 words, seed %ld), threshold %.2f, %d-word shingles, "
          "%d bands x %d rows\n",
          fmt_count(nbuf, sizeof nbuf, (long long)n), seed_arg, prm.threshold, prm.shingle, bands,
          rows);
   printf("  generated in %.2f s; planted %zu near pairs (%zu >= threshold by exact Jaccard, "
          "%zu below), %zu exact-variant pairs\n",
          gen_s, pos_near + neg_near, pos_near, neg_near, exact_pairs);
   printf("  Neardup_group: %.3f s wall, %s groups, largest group %zu\n", secs,
          fmt_count(gbuf, sizeof gbuf, (long long)groups), largest);
   printf("  peak RSS %.1f MB (%.1f MB before the call: the bench's own texts)\n",
          rss_after / 1024.0, rss_before / 1024.0);
   printf("  recall: %.4f of planted pairs >= threshold share a group (%zu/%zu); "
          "%zu/%zu planted pairs below it share one through a chain\n",
          recall, found_near, pos_near, neg_grouped, neg_near);
   printf("  exact variants: %zu/%zu flagged exact and grouped\n", exact_ok, exact_pairs);
   printf("  precision: %.4f of same-group pairs are >= threshold or chained by such pairs "
          "(%zu/%zu%s, %s pairs in groups)\n",
          precision, chain_ok, evaluated, sampled ? " sampled" : "",
          fmt_count(pbuf, sizeof pbuf, (long long)total_pairs));
   printf("  strict pair precision: %.4f of same-group pairs are themselves >= threshold "
          "(informational: groups are transitive by design)\n",
          strict);
   bool t_ok = secs < BAR_SECONDS, p_ok = precision >= BAR_PRECISION,
        r_ok = recall >= BAR_RECALL && exact_ok == exact_pairs;
   printf("%s time %.3f s < %.1f s\n", t_ok ? "PASS" : "FAIL", secs, BAR_SECONDS);
   printf("%s precision %.4f >= %.2f\n", p_ok ? "PASS" : "FAIL", precision, BAR_PRECISION);
   printf("%s recall %.4f >= %.2f (and every exact variant found)\n", r_ok ? "PASS" : "FAIL",
          recall, BAR_RECALL);
   return t_ok && p_ok && r_ok ? 0 : 1;
}
