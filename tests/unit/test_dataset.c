/* test_dataset.c - the dataset step on generated exchanges with planted defects: each filter,
 * exact and near duplicates, a group-aware split without leakage, stratification, label caps,
 * determinism, the JSONL format line by line, the gate, bad input and all-or-nothing writes. */
#include "config.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sha256.h"
#include "common/util.h"
#include "control/dataset.h"
#include "control/task.h"
#include "records.h"
#include "tap.h"

#define SYSTEM "Route the ticket to one queue. Answer with the queue name only."

static Store *st;
static char tmpdir[] = "/tmp/offramp-dataset-XXXXXX";

/* ---- generated text --------------------------------------------------------------------- */

static uint64_t rng = 42;

static uint64_t rnd(void) {
   uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
   z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
   return z ^ (z >> 31);
}

/* n random words from a 400-word made-up vocabulary: two such texts share next to no
 * shingles, so only planted pairs are near duplicates. */
static char *words(int n) {
   static const char *const syl[] = { "ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "vu", "ze",
                                      "ba", "do", "fi", "gu", "ha", "je", "ko", "li", "mo", "nu" };
   Sbuf sb = { 0 };
   for (int i = 0; i < n; i++) {
      uint64_t r = rnd();
      Sbuf_printf(&sb, "%s%s%s", i ? " " : "", syl[r % 20], syl[(r >> 8) % 20]);
   }
   return Sbuf_steal(&sb);
}

typedef struct {
   RecordGen g;
} Gen;

static void gen_open(Gen *gen, const char *task, const char *prefix) {
   memset(gen, 0, sizeof *gen);
   gen->g.st = st;
   gen->g.w = ExchangeWriter_new(st, Task_create_in_tx);
   gen->g.task = task;
   gen->g.system = SYSTEM;
   gen->g.t0 = 1793491200;
   gen->g.step = 60;
   gen->g.prefix = prefix;
   char *err = NULL;
   Store_begin(st, &err);
}

static void add(Gen *gen, const char *text, const char *answer, Defect d) {
   char *err = NULL;
   if (!Records_add(&gen->g, text, answer, d, &err)) {
      printf("# add failed: %s\n", err);
      free(err);
   }
}

static void gen_close(Gen *gen) {
   char *err = NULL;
   Store_commit(st, &err);
   ExchangeWriter_free(gen->g.w);
}

static const char *const queues[] = { "billing", "shipping", "returns", "account", "technical" };

/* ---- reading what was written ----------------------------------------------------------- */

typedef struct {
   char **user;     /* user message of each row */
   char **answer;
   int n;
   bool valid;      /* every line parsed and had system, user, assistant in that order */
   char why[160];
} Jsonl;

static void jsonl_read(const char *dir, const char *name, Jsonl *j) {
   memset(j, 0, sizeof *j);
   j->valid = true;
   char *path = xasprintf("%s/%s", dir, name);
   FILE *f = fopen(path, "r");
   char *line = NULL;
   size_t cap = 0;
   ssize_t len;
   int lineno = 0;
   while (f && (len = getline(&line, &cap, f)) > 0) {
      lineno++;
      json_error_t e;
      json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &e);
      json_t *m = json_object_get(o, "messages");
      static const char *const roles[] = { "system", "user", "assistant" };
      bool good = o && line[len - 1] == '\n' && json_object_size(o) == 1 && json_array_size(m) == 3;
      for (size_t i = 0; good && i < 3; i++) {
         json_t *msg = json_array_get(m, i);
         const char *c = json_string_value(json_object_get(msg, "content"));
         good = json_object_size(msg) == 2 && str_eq(json_string_value(json_object_get(msg, "role")), roles[i]) &&
                c && *c;
      }
      good = good && str_eq(json_string_value(json_object_get(json_array_get(m, 0), "content")), SYSTEM);
      if (!good && j->valid) {
         j->valid = false;
         snprintf(j->why, sizeof j->why, "%s line %d: %.100s", name, lineno, line);
      }
      if (good) {
         j->user = xrealloc(j->user, (j->n + 1) * sizeof *j->user);
         j->answer = xrealloc(j->answer, (j->n + 1) * sizeof *j->answer);
         j->user[j->n] = xstrdup(json_string_value(json_object_get(json_array_get(m, 1), "content")));
         j->answer[j->n] = xstrdup(json_string_value(json_object_get(json_array_get(m, 2), "content")));
         j->n++;
      }
      json_decref(o);
   }
   if (!f) {
      j->valid = false;
      snprintf(j->why, sizeof j->why, "cannot open %s", path);
   }
   free(line);
   if (f)
      fclose(f);
   free(path);
}

static void jsonl_free(Jsonl *j) {
   for (int i = 0; i < j->n; i++) {
      free(j->user[i]);
      free(j->answer[i]);
   }
   free(j->user);
   free(j->answer);
}

/* Rows of j whose user message is text. */
static int jsonl_count(const Jsonl *j, const char *text) {
   int n = 0;
   for (int i = 0; i < j->n; i++)
      n += str_eq(j->user[i], text);
   return n;
}

static long long filter(const Dataset *d, const char *name) {
   return json_integer_value(json_object_get(json_object_get(d->report, "filters"), name));
}

static long long near(const Dataset *d, const char *name) {
   return json_integer_value(json_object_get(json_object_get(d->report, "near_dup"), name));
}

static int count_entries(const char *dir) {
   DIR *dp = opendir(dir);
   int n = 0;
   struct dirent *e;
   while (dp && (e = readdir(dp)))
      n += e->d_name[0] != '.' || str_startswith(e->d_name, ".tmp-");
   if (dp)
      closedir(dp);
   return n;
}

static bool build(const char *task, const DatasetParams *p, Dataset *d, char **err) {
   *err = NULL;
   return Dataset_build(st, task, p, d, err);
}

/* ---- the tests -------------------------------------------------------------------------- */

#define NEAR_PAIRS 10
#define EXACT_DUPS 5
#define BIG_GROUPS 4
#define BIG_GROUP_SIZE 6

static char *near_a[NEAR_PAIRS], *near_b[NEAR_PAIRS];
static char *big[BIG_GROUPS][BIG_GROUP_SIZE];
static char *exact_orig[EXACT_DUPS];

/* 600 clean rows over five queues, plus every defect the filters catch. */
static void make_filters_task(void) {
   Gen gen;
   gen_open(&gen, "tickets", "t");
   for (int i = 0; i < 600; i++) {
      char *t = words(10 + (int)(rnd() % 31));
      if (i < EXACT_DUPS)
         exact_orig[i] = xstrdup(t);
      add(&gen, t, queues[i % 5], DEFECT_NONE);
      free(t);
   }
   /* Exact duplicates: case, spacing and punctuation differ, the words do not. */
   for (int i = 0; i < EXACT_DUPS; i++) {
      Sbuf sb = { 0 };
      for (const char *p = exact_orig[i]; *p; p++) {
         if (*p == ' ')
            Sbuf_puts(&sb, i % 2 ? "  " : ", ");
         else
            Sbuf_putc(&sb, (char)(p == exact_orig[i] ? *p - 32 : *p));
      }
      Sbuf_puts(&sb, "?!");
      add(&gen, sb.buf, queues[(i + 1) % 5], DEFECT_NONE);
      Sbuf_free(&sb);
   }
   /* Near-duplicate pairs: 30 words, the last one changed (Jaccard 27/29 = 0.93). */
   for (int i = 0; i < NEAR_PAIRS; i++) {
      near_a[i] = words(30);
      near_b[i] = xasprintf("%.*s tail%d", (int)(strrchr(near_a[i], ' ') - near_a[i]), near_a[i], i);
      add(&gen, near_a[i], queues[i % 5], DEFECT_NONE);
      add(&gen, near_b[i], queues[i % 5], DEFECT_NONE);
   }
   /* Bigger groups: one 40-word text and five copies with a different word added to each. */
   for (int g = 0; g < BIG_GROUPS; g++) {
      big[g][0] = words(40);
      for (int k = 1; k < BIG_GROUP_SIZE; k++)
         big[g][k] = xasprintf("%s extra%d", big[g][0], k);
      for (int k = 0; k < BIG_GROUP_SIZE; k++)
         add(&gen, big[g][k], queues[g % 5], DEFECT_NONE);
   }
   /* Not near duplicates: halves shared, Jaccard about 0.45. */
   char *half1 = words(15), *half2 = words(15), *half3 = words(15);
   char *x = xasprintf("%s %s", half1, half2), *y = xasprintf("%s %s", half1, half3);
   add(&gen, x, "billing", DEFECT_NONE);
   add(&gen, y, "billing", DEFECT_NONE);
   free(half1);
   free(half2);
   free(half3);
   free(x);
   free(y);

   static const struct {
      Defect d;
      int n;
   } defects[] = { { DEFECT_ERROR, 3 }, { DEFECT_ERROR_OBJECT, 2 }, { DEFECT_TRUNCATED, 4 }, { DEFECT_EMPTY, 3 },
                   { DEFECT_FLAGGED, 2 }, { DEFECT_CORRECTED, 1 } };
   for (size_t k = 0; k < ARRAY_SIZE(defects); k++) {
      for (int i = 0; i < defects[k].n; i++) {
         char *t = words(12);
         add(&gen, t, "billing", defects[k].d);
         free(t);
      }
   }
   /* An empty input, three off-label answers, two prompts far longer than the rest. */
   add(&gen, "   ", "billing", DEFECT_NONE);
   static const char *const off[] = { "I am not sure", "biling", "refunds?" };
   for (size_t i = 0; i < ARRAY_SIZE(off); i++) {
      char *t = words(12);
      add(&gen, t, off[i], DEFECT_NONE);
      free(t);
   }
   for (int i = 0; i < 2; i++) {
      char *t = words(400);
      add(&gen, t, "account", DEFECT_NONE);
      free(t);
   }
   gen_close(&gen);
}

static void test_filters(void) {
   make_filters_task();
   DatasetParams p;
   Dataset_defaults(&p);
   p.min_train = 100;
   Dataset d;
   char *err;
   bool built = build("tickets", &p, &d, &err);
   ok(built, "dataset built (%s)", err ? err : "ok");
   if (!built) {
      free(err);
      return;
   }
   is_int(filter(&d, "error"), 5, "error responses: HTTP 500 and an error object under 200");
   is_int(filter(&d, "truncated"), 4, "truncated answers (finish_reason length)");
   is_int(filter(&d, "empty"), 4, "empty answers and the blank input");
   is_int(filter(&d, "flagged"), 3, "answers flagged wrong or corrected");
   is_int(filter(&d, "off_label"), 3, "answers outside the learned label set");
   is_int(filter(&d, "length_outlier"), 2, "prompts far above median + 5 MAD");
   is_int(filter(&d, "exact_duplicate"), EXACT_DUPS, "exact duplicates after normalisation");
   is_int(filter(&d, "capped"), 0, "nothing capped when labels are balanced");
   is_int(near(&d, "groups"), NEAR_PAIRS + BIG_GROUPS, "near-duplicate groups: the planted ones, no others");
   is_int(near(&d, "rows_in_groups"), 2 * NEAR_PAIRS + BIG_GROUPS * BIG_GROUP_SIZE, "rows in near-duplicate groups");
   is_int(near(&d, "split_groups"), 0, "no group split");
   is_int(d.rows_train + d.rows_test, 600 + 2 * NEAR_PAIRS + BIG_GROUPS * BIG_GROUP_SIZE + 2, "rows kept");

   Jsonl tr, te;
   jsonl_read(d.dir, "train.jsonl", &tr);
   jsonl_read(d.dir, "test.jsonl", &te);
   ok(tr.valid, "train.jsonl: every line a chat example, system/user/assistant (%s)", tr.why);
   ok(te.valid, "test.jsonl: every line a chat example, system/user/assistant (%s)", te.why);
   is_int(tr.n, d.rows_train, "train.jsonl rows as registered");
   is_int(te.n, d.rows_test, "test.jsonl rows as registered");
   int bad_answer = 0;
   for (int i = 0; i < tr.n; i++) {
      bool known = false;
      for (size_t q = 0; q < ARRAY_SIZE(queues); q++)
         known |= str_eq(tr.answer[i], queues[q]);
      bad_answer += !known;
   }
   is_int(bad_answer, 0, "assistant messages are the frontier's labels");
   int exact_kept = 0;
   for (int i = 0; i < EXACT_DUPS; i++)
      exact_kept += jsonl_count(&tr, exact_orig[i]) + jsonl_count(&te, exact_orig[i]);
   is_int(exact_kept, EXACT_DUPS, "of each exact duplicate the first is kept");
   int straddle = 0, together = 0;
   for (int i = 0; i < NEAR_PAIRS; i++) {
      bool a_test = jsonl_count(&te, near_a[i]) > 0, b_test = jsonl_count(&te, near_b[i]) > 0;
      straddle += a_test != b_test;
      together += a_test && b_test;
   }
   for (int g = 0; g < BIG_GROUPS; g++) {
      int in_test = 0;
      for (int k = 0; k < BIG_GROUP_SIZE; k++)
         in_test += jsonl_count(&te, big[g][k]);
      straddle += in_test != 0 && in_test != BIG_GROUP_SIZE;
   }
   is_int(straddle, 0, "near-duplicate pairs and groups on one side of the split");
   int leaks = 0;
   for (int i = 0; i < te.n; i++)
      leaks += jsonl_count(&tr, te.user[i]);
   is_int(leaks, 0, "no test input in train");

   struct stat sb;
   ok(stat(d.dir, &sb) == 0 && (sb.st_mode & 0777) == 0700, "dataset directory owner-only");
   char *path = xasprintf("%s/train.jsonl", d.dir);
   ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "files owner-only");
   char hex[65];
   ok(Sha256_file(path, hex) && str_eq(hex, d.train_sha256), "registered sha256 is the file's");
   free(path);
   path = xasprintf("%s/dataset.json", d.dir);
   json_t *file = json_load_file(path, 0, NULL);
   ok(file && str_eq(json_string_value(json_object_get(json_object_get(json_object_get(file, "files"), "test.jsonl"),
                                                       "sha256")), d.test_sha256),
      "dataset.json carries the files' sha256");
   ok(json_object_get(file, "labels") && json_array_size(json_object_get(json_object_get(file, "labels"), "distribution")) == 5,
      "dataset.json has the label distribution");
   json_decref(file);
   free(path);
   jsonl_free(&tr);
   jsonl_free(&te);

   Task t;
   Task_init(&t);
   Task_get(st, "tickets", &t, &err);
   GateCheck gc[8];
   int n = Dataset_gate_checks(st, &t, gc, 8);
   int pass = 0;
   for (int i = 0; i < n; i++)
      pass += gc[i].status == CHECK_PASS;
   is_int(pass, n, "the gate's checks pass on a clean dataset");
   is_int(n, 4, "four checks: rows, test fraction, overlap, groups");

   /* A leak planted by hand (registered hashes updated to match) is caught from the files. */
   char *train = xasprintf("%s/train.jsonl", d.dir), *test = xasprintf("%s/test.jsonl", d.dir);
   FILE *in = fopen(train, "r"), *out = fopen(test, "a");
   char *line = NULL;
   size_t cap = 0;
   if (in && out && getline(&line, &cap, in) > 0)
      fputs(line, out);
   free(line);
   if (in)
      fclose(in);
   if (out)
      fclose(out);
   Sha256_file(test, hex);
   char *sql = xasprintf("UPDATE datasets SET test_sha256 = '%s', rows_test = rows_test + 1 WHERE id = %lld", hex, d.id);
   Store_exec(st, sql, NULL);
   free(sql);
   n = Dataset_gate_checks(st, &t, gc, 8);
   ok(n == 4 && gc[2].status == CHECK_FAIL && strstr(gc[2].detail, "1 of"), "a planted leak fails the overlap check (%s)",
      n > 2 ? gc[2].detail : "");
   /* A file edited behind the registry's back is refused too. */
   out = fopen(test, "a");
   if (out) {
      fputs("\n", out);
      fclose(out);
   }
   n = Dataset_gate_checks(st, &t, gc, 8);
   ok(n == 4 && gc[2].status == CHECK_FAIL && strstr(gc[2].detail, "changed since the build"),
      "an edited file fails the check (%s)", n > 2 ? gc[2].detail : "");
   free(train);
   free(test);
   Task_clear(&t);
   Dataset_clear(&d);
}

static void test_determinism(void) {
   DatasetParams p;
   Dataset_defaults(&p);
   p.min_train = 100;
   p.seed = 7;
   Dataset a, b, c;
   char *err;
   bool ok_a = build("tickets", &p, &a, &err);
   bool ok_b = build("tickets", &p, &b, &err);
   p.seed = 8;
   bool ok_c = build("tickets", &p, &c, &err);
   ok(ok_a && ok_b && ok_c, "three builds");
   if (!(ok_a && ok_b && ok_c))
      return;
   ok(a.id != b.id && !str_eq(a.dir, b.dir), "each build is a new dataset in its own directory");
   static const char *const names[] = { "train.jsonl", "test.jsonl", "dataset.json" };
   for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
      char *pa = xasprintf("%s/%s", a.dir, names[i]), *pb = xasprintf("%s/%s", b.dir, names[i]);
      char ha[65], hb[65];
      ok(Sha256_file(pa, ha) && Sha256_file(pb, hb) && str_eq(ha, hb), "same seed, same %s byte for byte", names[i]);
      free(pa);
      free(pb);
   }
   ok(!str_eq(a.train_sha256, c.train_sha256), "another seed, another split");
   ok(str_eq(a.report_sha256, b.report_sha256), "registered hashes agree");
   /* Every seed keeps the groups whole. */
   long long split = 0;
   for (uint64_t s = 100; s < 105; s++) {
      Dataset d;
      p.seed = s;
      if (build("tickets", &p, &d, &err)) {
         split += near(&d, "split_groups");
         Dataset_clear(&d);
      }
   }
   is_int(split, 0, "no group split under five more seeds");
   Dataset_clear(&a);
   Dataset_clear(&b);
   Dataset_clear(&c);
}

/* Skewed labels: 50 / 25 / 15 / 7 / 3 %. */
static void test_stratify_and_cap(void) {
   Gen gen;
   gen_open(&gen, "skewed", "s");
   static const int share[] = { 500, 250, 150, 70, 30 };
   for (int q = 0; q < 5; q++) {
      for (int i = 0; i < share[q]; i++) {
         char *t = words(14);
         add(&gen, t, queues[q], DEFECT_NONE);
         free(t);
      }
   }
   gen_close(&gen);
   DatasetParams p;
   Dataset_defaults(&p);
   p.min_train = 100;
   p.balance = false;
   p.test_frac = 0.10;
   Dataset d;
   char *err;
   bool built = build("skewed", &p, &d, &err);
   ok(built, "skewed dataset built (%s)", err ? err : "ok");
   if (!built) {
      free(err);
      return;
   }
   is_int(d.rows_test, 100, "test is 10 % of 1,000 rows");
   json_t *dist = json_object_get(json_object_get(d.report, "labels"), "distribution");
   size_t i;
   json_t *v;
   int off = 0;
   json_array_foreach(dist, i, v) {
      double tr = (double)json_integer_value(json_object_get(v, "train"));
      double te = (double)json_integer_value(json_object_get(v, "test"));
      off += fabs(te - 0.10 * (tr + te)) > 1.0;
   }
   is_int(off, 0, "every label holds 10 % of its rows in test (within one row)");
   is_str(json_string_value(json_object_get(json_array_get(dist, 0), "label")), "billing",
          "distribution largest first");
   is_int(filter(&d, "capped"), 0, "--balance none caps nothing");
   Dataset_clear(&d);

   p.balance = true;
   p.cap_factor = 1.0;
   built = build("skewed", &p, &d, &err);
   ok(built, "capped dataset built (%s)", err ? err : "ok");
   if (!built) {
      free(err);
      return;
   }
   /* Median label count 150: billing 500 -> 150, shipping 250 -> 150. */
   is_int(json_integer_value(json_object_get(json_object_get(d.report, "labels"), "cap")), 150, "cap = 1 x median");
   is_int(filter(&d, "capped"), 350 + 100, "rows above the cap dropped");
   dist = json_object_get(json_object_get(d.report, "labels"), "distribution");
   long long top = json_integer_value(json_object_get(json_array_get(dist, 0), "train")) +
                   json_integer_value(json_object_get(json_array_get(dist, 0), "test"));
   is_int(top, 150, "largest label at the cap");
   Dataset_clear(&d);
}

static void test_warnings_and_user_labels(void) {
   Gen gen;
   gen_open(&gen, "thin", "w");
   for (int i = 0; i < 300; i++) {
      char *t = words(14);
      add(&gen, t, i < 4 ? "fraud" : queues[i % 2], DEFECT_NONE);
      free(t);
   }
   gen_close(&gen);
   DatasetParams p;
   Dataset_defaults(&p);
   p.min_train = 50;
   Dataset d;
   char *err;
   bool built = build("thin", &p, &d, &err);
   ok(built, "dataset with a thin label built (%s)", err ? err : "ok");
   if (built) {
      json_t *w = json_object_get(json_object_get(d.report, "labels"), "warnings");
      ok(json_array_size(w) == 1 && strstr(json_string_value(json_array_get(w, 0)), "'fraud' has 4 rows"),
         "thin label warned about (%s)", json_string_value(json_array_get(w, 0)));
      Dataset_clear(&d);
   }
   Task t;
   Task_init(&t);
   Task_get(st, "thin", &t, &err);
   LabelSet ls;
   ok(Dataset_labels(st, &t, &ls, &err) && ls.n == 3 && !ls.user, "three labels learned");
   Dataset_free_labels(&ls);
   char *set[] = { "billing", "fraud" };
   ok(Dataset_set_labels(st, &t, set, 2, &err), "label set edited");
   bool got = Dataset_labels(st, &t, &ls, &err);
   ok(got && ls.n == 2 && ls.user && ls.off_label == 148, "the user's set is used: shipping now off-label (%lld)",
      ls.off_label);
   Dataset_free_labels(&ls);
   built = build("thin", &p, &d, &err);
   ok(built && filter(&d, "off_label") == 148, "build drops answers outside the user's set (%s)", err ? err : "ok");
   if (built)
      Dataset_clear(&d);
   Dataset_set_labels(st, &t, NULL, 0, &err);
   ok(Dataset_labels(st, &t, &ls, &err) && !ls.user && ls.n == 3, "an empty set goes back to learning");
   Dataset_free_labels(&ls);
   Task_clear(&t);
}

static long long registered(void) {
   return Store_count(st, "SELECT count(*) FROM datasets", 0);
}

/* A build that must be refused with a message holding want1 (and want2). */
static void expect_refusal(const char *name, const char *task, const DatasetParams *p, const char *want1,
                           const char *want2) {
   Dataset d;
   char *err = NULL;
   bool refused = !Dataset_build(st, task, p, &d, &err);
   if (!refused)
      Dataset_clear(&d);
   ok(refused && err && strstr(err, want1) && (!want2 || strstr(err, want2)), "%s: %s", name, err ? err : "(built)");
   free(err);
}

static void test_bad_input(void) {
   DatasetParams p;
   Dataset_defaults(&p);
   Dataset d;
   char *err;
   long long before = registered();
   char *e = NULL;
   Store_exec(st, "INSERT INTO tasks(name, created_at, updated_at) VALUES ('quiet', 'x', 'x')", &e);
   expect_refusal("no records", "quiet", &p, "no exchange records", NULL);

   p.min_train = 100;
   p.since = "2030-01-01";
   expect_refusal("empty window", "tickets", &p, "no records of tickets in the window", "records;");
   p.since = NULL;

   p.min_train = 5000;
   expect_refusal("too few rows", "tickets", &p, "train rows, the gate needs 5,000", "filtered:");
   p.min_train = 100;

   Gen gen;
   gen_open(&gen, "freetext", "f");
   for (int i = 0; i < 300; i++) {
      char *t = words(10), *a = words(20);
      add(&gen, t, a, DEFECT_NONE);
      free(t);
      free(a);
   }
   gen_close(&gen);
   expect_refusal("free text in a label task", "freetext", &p, "look like free text", "300 distinct answers");
   Store_exec(st, "UPDATE tasks SET output_kind = 'rewrite' WHERE name = 'freetext'", &e);
   bool built = build("freetext", &p, &d, &err);
   ok(built, "the same rows build as a rewrite task (%s)", err ? err : "ok");
   if (built)
      Dataset_clear(&d);
   before++;

   p.test_frac = 0.2;
   expect_refusal("test fraction above 15 %", "tickets", &p, "--test-frac 0.2 is outside 0.10-0.15", NULL);
   p.test_frac = 0.05;
   expect_refusal("test fraction below 10 %", "tickets", &p, "--test-frac 0.05 is outside", NULL);
   p.test_frac = 0.15;
   p.until = "2026-13";
   expect_refusal("bad time", "tickets", &p, "--until '2026-13' is not a time", NULL);
   p.until = NULL;
   is_int(registered(), before, "nothing registered by the refused builds");

   /* The registry busy: the files were written, then removed again; nothing registered. */
   sqlite3 *other;
   sqlite3_open(st->path, &other);
   sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL);
   sqlite3_busy_timeout(st->db, 50);
   expect_refusal("build fails while another writer holds the workspace", "tickets", &p, "locked", NULL);
   sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
   sqlite3_close(other);
   sqlite3_busy_timeout(st->db, 5000);
   is_int(registered(), before, "nothing registered");
   char *datadir = Dataset_data_dir(st);
   char *tdir = xasprintf("%s/datasets/tickets", datadir);
   is_int(count_entries(tdir), (int)Store_count(st, "SELECT count(*) FROM datasets d JOIN tasks t ON t.id = d.task_id "
                                                    "WHERE t.name = 'tickets'", 0),
          "no temp or stray directories left");
   free(tdir);
   free(datadir);
}

int main(void) {
   if (!mkdtemp(tmpdir))
      tap_skip_all("no temp dir");
   char *path = xasprintf("%s/ws.db", tmpdir);
   char *err = NULL;
   st = Store_open(path, STORE_CREATE, &err);
   ok(st != NULL, "workspace created (%s)", err ? err : "ok");
   if (!st)
      return tap_done();
   char *datadir = Dataset_data_dir(st);
   char *want = xasprintf("%s/ws.data", tmpdir);
   is_str(datadir, want, "data directory next to the workspace");
   free(want);
   free(datadir);

   test_filters();
   test_determinism();
   test_stratify_and_cap();
   test_warnings_and_user_labels();
   test_bad_input();

   Store_close(st);
   char *cmd = xasprintf("rm -rf %s", tmpdir);
   if (system(cmd) != 0)
      printf("# could not remove %s\n", tmpdir);
   free(cmd);
   free(path);
   for (int i = 0; i < NEAR_PAIRS; i++) {
      free(near_a[i]);
      free(near_b[i]);
   }
   for (int g = 0; g < BIG_GROUPS; g++)
      for (int k = 0; k < BIG_GROUP_SIZE; k++)
         free(big[g][k]);
   for (int i = 0; i < EXACT_DUPS; i++)
      free(exact_orig[i]);
   return tap_done();
}
