/* gwstats.c - counters in per-second and per-ten-second rings plus an all-time total;
 * latency in log-spaced buckets (x1.25 from 10 us) so percentiles need no samples. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"
#include "gateway/gwstats.h"

#define LAT_BUCKETS 80
#define LAT_BASE_MS 0.01
#define LAT_RATIO 1.25
#define RING 60
#define CONF_BUCKETS 10

const char *const Stats_arm_names[STATS_ARMS] = { "primary", "candidate", "fallback" };
const char *const Stats_error_names[UPERR_KINDS] = { "status", "timeout", "malformed", "connect" };
const char *const Stats_fallback_names[FALLBACK_KINDS] = { "error", "timeout", "low_confidence" };

typedef struct {
   uint64_t req, err, err_kind[UPERR_KINDS], lat[LAT_BUCKETS];
   double lat_sum_ms;
} ArmCounts;

typedef struct {
   ArmCounts arm[STATS_ARMS];
   uint64_t agree_k, agree_n, noise_k, noise_n, fallback[FALLBACK_KINDS], conf[CONF_BUCKETS];
} Counts;

typedef struct TaskStats {
   char *task;
   Counts all;
   Counts sec[RING], dec[RING];
   long sec_t[RING], dec_t[RING];
   struct TaskStats *next;
} TaskStats;

typedef struct {
   uint64_t req, status[6];   /* status[0]: no answer; [1..5]: 1xx..5xx */
   uint64_t bytes_in, bytes_out, lat[LAT_BUCKETS];
   double lat_sum_ms;
} PassCounts;

const char *const Stats_endpoint_names[STATS_ENDPOINTS] = {
   "assistants", "audio",   "batches",    "chat",    "completions", "containers", "conversations",
   "embeddings", "evals",   "files",      "fine_tuning", "images",  "models",     "moderations",
   "realtime",   "responses", "threads",  "uploads", "vector_stores", "other",
};

struct GwStats {
   TaskStats *tasks;
   uint64_t overhead[LAT_BUCKETS];
   double overhead_sum_ms;
   uint64_t overhead_n;
   long max_tasks, n_admitted;
   PassCounts pass[STATS_ENDPOINTS];
};

void StatsEvent_init(StatsEvent *ev) {
   ev->arm = -1;
   ev->error = UPERR_NONE;
   ev->latency_ms = -1;
   ev->agree = ev->noise_agree = -1;
   ev->fallback = FALLBACK_NONE;
   ev->confidence = -1;
}

static int lat_bucket(double ms) {
   if (ms <= LAT_BASE_MS)
      return 0;
   int b = (int)(log(ms / LAT_BASE_MS) / log(LAT_RATIO));
   return b < 0 ? 0 : b >= LAT_BUCKETS ? LAT_BUCKETS - 1 : b;
}

static double lat_upper(int b) {
   return LAT_BASE_MS * pow(LAT_RATIO, b + 1);
}

GwStats *GwStats_new(void) {
   GwStats *gs = xcalloc(1, sizeof(GwStats));
   gs->max_tasks = -1;
   return gs;
}

void GwStats_limit_tasks(GwStats *gs, long max) {
   gs->max_tasks = max;
}

void GwStats_free(GwStats *gs) {
   if (!gs)
      return;
   while (gs->tasks) {
      TaskStats *next = gs->tasks->next;
      free(gs->tasks->task);
      free(gs->tasks);
      gs->tasks = next;
   }
   free(gs);
}

static TaskStats *task_find(GwStats *gs, const char *task) {
   for (TaskStats *t = gs->tasks; t; t = t->next) {
      if (str_eq(t->task, task))
         return t;
   }
   return NULL;
}

static TaskStats *task_stats(GwStats *gs, const char *task) {
   TaskStats *t = task_find(gs, task);
   if (t)
      return t;
   t = xcalloc(1, sizeof *t);
   t->task = xstrdup(task);
   t->next = gs->tasks;
   gs->tasks = t;
   return t;
}

/* The ring slot for time index ti, cleared when it last held an older index. */
static Counts *slot(Counts *ring, long *times, long ti) {
   int i = (int)(ti % RING);
   if (times[i] != ti) {
      memset(&ring[i], 0, sizeof ring[i]);
      times[i] = ti;
   }
   return &ring[i];
}

static void apply(Counts *c, const StatsEvent *ev) {
   if (ev->arm >= 0) {
      ArmCounts *a = &c->arm[ev->arm];
      a->req++;
      if (ev->error >= 0) {
         a->err++;
         a->err_kind[ev->error]++;
      }
      if (ev->latency_ms >= 0) {
         a->lat[lat_bucket(ev->latency_ms)]++;
         a->lat_sum_ms += ev->latency_ms;
      }
   }
   if (ev->agree >= 0) {
      c->agree_n++;
      c->agree_k += (uint64_t)ev->agree;
   }
   if (ev->noise_agree >= 0) {
      c->noise_n++;
      c->noise_k += (uint64_t)ev->noise_agree;
   }
   if (ev->fallback >= 0)
      c->fallback[ev->fallback]++;
   if (ev->confidence >= 0) {
      int b = (int)(ev->confidence * CONF_BUCKETS);
      c->conf[b >= CONF_BUCKETS ? CONF_BUCKETS - 1 : b]++;
   }
}

void GwStats_add(GwStats *gs, const char *task, const StatsEvent *ev, double now) {
   TaskStats *t = task_stats(gs, task ? task : "");
   long sec = (long)now;
   apply(&t->all, ev);
   apply(slot(t->sec, t->sec_t, sec), ev);
   apply(slot(t->dec, t->dec_t, sec / 10), ev);
}

bool GwStats_admit(GwStats *gs, const char *task) {
   if (task_find(gs, task))
      return true;
   if (gs->max_tasks >= 0 && gs->n_admitted >= gs->max_tasks)
      return false;
   gs->n_admitted++;
   task_stats(gs, task);
   return true;
}

int GwStats_endpoint(const char *path) {
   size_t n = strcspn(path, "/?");
   for (int i = 0; i < STATS_ENDPOINTS - 1; i++) {
      if (strlen(Stats_endpoint_names[i]) == n && memcmp(Stats_endpoint_names[i], path, n) == 0)
         return i;
   }
   return STATS_ENDPOINTS - 1;
}

void GwStats_passthrough(GwStats *gs, int endpoint, long status, double ms, long long bytes_in,
                         long long bytes_out) {
   PassCounts *p = &gs->pass[endpoint];
   p->req++;
   p->status[status >= 100 && status < 600 ? status / 100 : 0]++;
   p->bytes_in += (uint64_t)(bytes_in > 0 ? bytes_in : 0);
   p->bytes_out += (uint64_t)(bytes_out > 0 ? bytes_out : 0);
   p->lat[lat_bucket(ms)]++;
   p->lat_sum_ms += ms;
}

void GwStats_overhead(GwStats *gs, double ms) {
   gs->overhead[lat_bucket(ms)]++;
   gs->overhead_sum_ms += ms;
   gs->overhead_n++;
}

static void add_counts(Counts *sum, const Counts *c) {
   uint64_t *d = (uint64_t *)sum;
   const uint64_t *s = (const uint64_t *)c;
   /* Counts is all uint64_t except the latency sums, handled below. */
   for (int a = 0; a < STATS_ARMS; a++) {
      double keep = sum->arm[a].lat_sum_ms + c->arm[a].lat_sum_ms;
      for (size_t i = 0; i < offsetof(ArmCounts, lat_sum_ms) / sizeof(uint64_t); i++)
         ((uint64_t *)&sum->arm[a])[i] += ((const uint64_t *)&c->arm[a])[i];
      sum->arm[a].lat_sum_ms = keep;
   }
   size_t from = offsetof(Counts, agree_k) / sizeof(uint64_t), to = sizeof(Counts) / sizeof(uint64_t);
   for (size_t i = from; i < to; i++)
      d[i] += s[i];
}

/* Sum of the ring slots whose time index lies in (ti - RING, ti]. */
static void window(const Counts *ring, const long *times, long ti, Counts *out) {
   memset(out, 0, sizeof *out);
   for (int i = 0; i < RING; i++) {
      if (times[i] > ti - RING && times[i] <= ti)
         add_counts(out, &ring[i]);
   }
}

static double percentile(const uint64_t *lat, uint64_t n, double q) {
   if (!n)
      return 0;
   uint64_t want = (uint64_t)ceil(q * (double)n), seen = 0;
   for (int b = 0; b < LAT_BUCKETS; b++) {
      seen += lat[b];
      if (seen >= want)
         return lat_upper(b);
   }
   return lat_upper(LAT_BUCKETS - 1);
}

static json_t *rate_json(uint64_t k, uint64_t n) {
   double lo = 0, hi = 0;
   if (n)
      wilson95((long long)k, (long long)n, &lo, &hi);
   return json_pack("{s:I, s:I, s:o, s:f, s:f}", "agree", (json_int_t)k, "n", (json_int_t)n, "rate",
                    n ? json_real((double)k / (double)n) : json_null(), "lo95", lo, "hi95", hi);
}

static json_t *counts_json(const Counts *c) {
   json_t *arms = json_object();
   for (int a = 0; a < STATS_ARMS; a++) {
      const ArmCounts *ac = &c->arm[a];
      json_t *errs = json_object();
      for (int k = 0; k < UPERR_KINDS; k++)
         json_object_set_new(errs, Stats_error_names[k], json_integer((json_int_t)ac->err_kind[k]));
      json_object_set_new(arms, Stats_arm_names[a],
                          json_pack("{s:I, s:I, s:o, s:f, s:f, s:f, s:f, s:f}", "requests", (json_int_t)ac->req,
                                    "errors", (json_int_t)ac->err, "errors_by_kind", errs, "mean_ms",
                                    ac->req ? ac->lat_sum_ms / (double)ac->req : 0.0, "p50_ms",
                                    percentile(ac->lat, ac->req, 0.50), "p90_ms", percentile(ac->lat, ac->req, 0.90),
                                    "p95_ms", percentile(ac->lat, ac->req, 0.95), "p99_ms", percentile(ac->lat, ac->req, 0.99)));
   }
   json_t *fb = json_object();
   for (int k = 0; k < FALLBACK_KINDS; k++)
      json_object_set_new(fb, Stats_fallback_names[k], json_integer((json_int_t)c->fallback[k]));
   json_t *conf = json_array();
   for (int b = 0; b < CONF_BUCKETS; b++)
      json_array_append_new(conf, json_integer((json_int_t)c->conf[b]));
   return json_pack("{s:o, s:o, s:o, s:o, s:o}", "arms", arms, "agreement", rate_json(c->agree_k, c->agree_n),
                    "noise_agreement", rate_json(c->noise_k, c->noise_n), "fallbacks", fb,
                    "confidence_histogram", conf);
}

/* Agreement per minute over the last ten, oldest first (from the ten-second ring): null for a
 * minute without comparisons. */
static json_t *per_minute(const TaskStats *t, long sec) {
   json_t *a = json_array();
   long now10 = sec / 10;
   for (int m = 9; m >= 0; m--) {
      uint64_t k = 0, n = 0;
      for (int i = 0; i < RING; i++) {
         long age = now10 - t->dec_t[i];
         if (t->dec_t[i] && age >= 6L * m && age < 6L * (m + 1)) {
            k += t->dec[i].agree_k;
            n += t->dec[i].agree_n;
         }
      }
      json_array_append_new(a, n ? json_pack("{s:I, s:I}", "agree", (json_int_t)k, "n", (json_int_t)n) : json_null());
   }
   return a;
}

json_t *GwStats_json(GwStats *gs, const char *task, double now) {
   json_t *list = json_array();
   long sec = (long)now;
   for (TaskStats *t = gs->tasks; t; t = t->next) {
      if (task && !str_eq(task, t->task))
         continue;
      Counts *w = xmalloc(sizeof *w);
      window(t->sec, t->sec_t, sec, w);
      json_t *m1 = counts_json(w);
      window(t->dec, t->dec_t, sec / 10, w);
      json_t *m10 = counts_json(w);
      free(w);
      json_array_append_new(list, json_pack("{s:s, s:{s:o, s:o, s:o}, s:o}", "task", t->task, "windows", "1m", m1,
                                            "10m", m10, "all", counts_json(&t->all), "agreement_per_minute",
                                            per_minute(t, sec)));
   }
   json_t *overhead = json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)gs->overhead_n, "mean_ms",
                                gs->overhead_n ? gs->overhead_sum_ms / (double)gs->overhead_n : 0.0, "p50_ms",
                                percentile(gs->overhead, gs->overhead_n, 0.50), "p99_ms",
                                percentile(gs->overhead, gs->overhead_n, 0.99), "p999_ms",
                                percentile(gs->overhead, gs->overhead_n, 0.999));
   json_t *pass = json_object();
   static const char *const classes[6] = { "none", "1xx", "2xx", "3xx", "4xx", "5xx" };
   for (int e = 0; e < STATS_ENDPOINTS; e++) {
      const PassCounts *p = &gs->pass[e];
      if (!p->req)
         continue;
      json_t *st = json_object();
      for (int k = 0; k < 6; k++) {
         if (p->status[k])
            json_object_set_new(st, classes[k], json_integer((json_int_t)p->status[k]));
      }
      json_object_set_new(pass, Stats_endpoint_names[e],
                          json_pack("{s:I, s:o, s:I, s:I, s:f, s:f, s:f}", "requests", (json_int_t)p->req, "status",
                                    st, "bytes_in", (json_int_t)p->bytes_in, "bytes_out", (json_int_t)p->bytes_out,
                                    "mean_ms", p->lat_sum_ms / (double)p->req, "p50_ms",
                                    percentile(p->lat, p->req, 0.50), "p99_ms", percentile(p->lat, p->req, 0.99)));
   }
   return json_pack("{s:o, s:o, s:o}", "tasks", list, "overhead", overhead, "passthrough", pass);
}

/* Prometheus histogram from our buckets, every 4th edge (x2.44) to keep series few. */
static void prom_histogram(Sbuf *out, const char *name, const char *labels, const uint64_t *lat, uint64_t n,
                           double sum_ms) {
   uint64_t cum = 0;
   for (int b = 0; b < LAT_BUCKETS; b++) {
      cum += lat[b];
      if (b % 4 == 3 && lat_upper(b) <= 120000)
         Sbuf_printf(out, "%s_bucket{%s%sle=\"%.6g\"} %llu\n", name, labels, *labels ? "," : "",
                     lat_upper(b) / 1000.0, (unsigned long long)cum);
   }
   Sbuf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "", (unsigned long long)n);
   if (*labels)
      Sbuf_printf(out, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, labels, sum_ms / 1000.0, name, labels,
                  (unsigned long long)n);
   else
      Sbuf_printf(out, "%s_sum %.9g\n%s_count %llu\n", name, sum_ms / 1000.0, name, (unsigned long long)n);
}

/* Task names are validated identifiers, but a label value must never break the format. */
static void prom_label(Sbuf *out, const char *s) {
   for (; *s; s++) {
      if (*s == '"' || *s == '\\')
         Sbuf_putc(out, '\\');
      if (*s == '\n')
         Sbuf_puts(out, "\\n");
      else
         Sbuf_putc(out, *s);
   }
}

void GwStats_prometheus(GwStats *gs, Sbuf *out) {
   Sbuf_puts(out, "# HELP offramp_requests_total Requests answered or tried per task and arm.\n"
                  "# TYPE offramp_requests_total counter\n");
   for (TaskStats *t = gs->tasks; t; t = t->next) {
      for (int a = 0; a < STATS_ARMS; a++) {
         Sbuf_puts(out, "offramp_requests_total{task=\"");
         prom_label(out, t->task);
         Sbuf_printf(out, "\",arm=\"%s\"} %llu\n", Stats_arm_names[a], (unsigned long long)t->all.arm[a].req);
      }
   }
   Sbuf_puts(out, "# HELP offramp_errors_total Upstream errors per task, arm and kind.\n"
                  "# TYPE offramp_errors_total counter\n");
   for (TaskStats *t = gs->tasks; t; t = t->next) {
      for (int a = 0; a < STATS_ARMS; a++) {
         for (int k = 0; k < UPERR_KINDS; k++) {
            Sbuf_puts(out, "offramp_errors_total{task=\"");
            prom_label(out, t->task);
            Sbuf_printf(out, "\",arm=\"%s\",kind=\"%s\"} %llu\n", Stats_arm_names[a], Stats_error_names[k],
                        (unsigned long long)t->all.arm[a].err_kind[k]);
         }
      }
   }
   Sbuf_puts(out, "# HELP offramp_request_duration_seconds Upstream latency per task and arm.\n"
                  "# TYPE offramp_request_duration_seconds histogram\n");
   for (TaskStats *t = gs->tasks; t; t = t->next) {
      for (int a = 0; a < STATS_ARMS; a++) {
         Sbuf labels = { 0 };
         Sbuf_puts(&labels, "task=\"");
         prom_label(&labels, t->task);
         Sbuf_printf(&labels, "\",arm=\"%s\"", Stats_arm_names[a]);
         prom_histogram(out, "offramp_request_duration_seconds", labels.buf, t->all.arm[a].lat,
                        t->all.arm[a].req, t->all.arm[a].lat_sum_ms);
         Sbuf_free(&labels);
      }
   }
   Sbuf_puts(out, "# HELP offramp_comparisons_total Primary vs candidate comparisons, and how many agreed.\n"
                  "# TYPE offramp_comparisons_total counter\n");
   for (TaskStats *t = gs->tasks; t; t = t->next) {
      const char *kinds[] = { "candidate", "noise" };
      uint64_t n[] = { t->all.agree_n, t->all.noise_n }, k[] = { t->all.agree_k, t->all.noise_k };
      for (int i = 0; i < 2; i++) {
         Sbuf_puts(out, "offramp_comparisons_total{task=\"");
         prom_label(out, t->task);
         Sbuf_printf(out, "\",against=\"%s\",result=\"agree\"} %llu\n", kinds[i], (unsigned long long)k[i]);
         Sbuf_puts(out, "offramp_comparisons_total{task=\"");
         prom_label(out, t->task);
         Sbuf_printf(out, "\",against=\"%s\",result=\"disagree\"} %llu\n", kinds[i],
                     (unsigned long long)(n[i] - k[i]));
      }
   }
   Sbuf_puts(out, "# HELP offramp_agreement Share of comparisons that agreed (all time).\n"
                  "# TYPE offramp_agreement gauge\n");
   for (TaskStats *t = gs->tasks; t; t = t->next) {
      if (!t->all.agree_n)
         continue;
      Sbuf_puts(out, "offramp_agreement{task=\"");
      prom_label(out, t->task);
      Sbuf_printf(out, "\"} %.6f\n", (double)t->all.agree_k / (double)t->all.agree_n);
   }
   Sbuf_puts(out, "# HELP offramp_fallbacks_total Candidate answers replaced by the primary, per reason.\n"
                  "# TYPE offramp_fallbacks_total counter\n");
   for (TaskStats *t = gs->tasks; t; t = t->next) {
      for (int k = 0; k < FALLBACK_KINDS; k++) {
         Sbuf_puts(out, "offramp_fallbacks_total{task=\"");
         prom_label(out, t->task);
         Sbuf_printf(out, "\",reason=\"%s\"} %llu\n", Stats_fallback_names[k], (unsigned long long)t->all.fallback[k]);
      }
   }
   Sbuf_puts(out, "# HELP offramp_passthrough_requests_total Requests proxied as they are to the default upstream, "
                  "per endpoint and status class (none: no answer).\n"
                  "# TYPE offramp_passthrough_requests_total counter\n");
   static const char *const classes[6] = { "none", "1xx", "2xx", "3xx", "4xx", "5xx" };
   for (int e = 0; e < STATS_ENDPOINTS; e++) {
      for (int k = 0; k < 6; k++) {
         if (gs->pass[e].status[k])
            Sbuf_printf(out, "offramp_passthrough_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n",
                        Stats_endpoint_names[e], classes[k], (unsigned long long)gs->pass[e].status[k]);
      }
   }
   Sbuf_puts(out, "# HELP offramp_passthrough_bytes_total Body bytes of proxied requests (in) and answers (out).\n"
                  "# TYPE offramp_passthrough_bytes_total counter\n");
   for (int e = 0; e < STATS_ENDPOINTS; e++) {
      if (!gs->pass[e].req)
         continue;
      Sbuf_printf(out, "offramp_passthrough_bytes_total{endpoint=\"%s\",direction=\"in\"} %llu\n",
                  Stats_endpoint_names[e], (unsigned long long)gs->pass[e].bytes_in);
      Sbuf_printf(out, "offramp_passthrough_bytes_total{endpoint=\"%s\",direction=\"out\"} %llu\n",
                  Stats_endpoint_names[e], (unsigned long long)gs->pass[e].bytes_out);
   }
   Sbuf_puts(out, "# HELP offramp_passthrough_duration_seconds Time to the proxied request's last byte.\n"
                  "# TYPE offramp_passthrough_duration_seconds histogram\n");
   for (int e = 0; e < STATS_ENDPOINTS; e++) {
      if (!gs->pass[e].req)
         continue;
      char labels[64];
      snprintf(labels, sizeof labels, "endpoint=\"%s\"", Stats_endpoint_names[e]);
      prom_histogram(out, "offramp_passthrough_duration_seconds", labels, gs->pass[e].lat, gs->pass[e].req,
                     gs->pass[e].lat_sum_ms);
   }
   Sbuf_puts(out, "# HELP offramp_overhead_seconds Time the gateway adds to a request (total minus upstream).\n"
                  "# TYPE offramp_overhead_seconds histogram\n");
   prom_histogram(out, "offramp_overhead_seconds", "", gs->overhead, gs->overhead_n, gs->overhead_sum_ms);
}
