/* Shared by the C baselines: the workload from the environment (set by bench/lib/main.lua),
 * one easy handle set up the way a plain libcurl program would, and the result line. */
#ifndef BENCH_H
#define BENCH_H

#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench_config {
  const char *url, *body, *ca_file;
  long calls, concurrency;
  struct curl_slist *headers;
};

/* The response body, kept like a client would keep it (reset before each transfer). */
struct bench_buffer {
  char data[65536];
  size_t len;
};

static const char *bench_env(const char *name, const char *fallback) {
  const char *v = getenv(name);
  if (v && *v) return v;
  if (fallback) return fallback;
  fprintf(stderr, "missing environment variable %s\n", name);
  exit(2);
}

static struct curl_slist *bench_header(struct curl_slist *list, const char *name, const char *value) {
  size_t n = strlen(name) + strlen(value) + 3;
  char *line = malloc(n);
  struct curl_slist *out;
  if (!line) exit(3);
  snprintf(line, n, "%s: %s", name, value);
  out = curl_slist_append(list, line);
  free(line);
  if (!out) exit(3);
  return out;
}

static void bench_config_read(struct bench_config *c) {
  static char url[4096];
  struct curl_slist *h = NULL;
  char bearer[8192];
  snprintf(url, sizeof url, "%s%s", bench_env("BENCH_BASE_URL", NULL),
           "/data/foundation/flowservice/connections");
  c->url = url;
  c->body = bench_env("BENCH_BODY", NULL);
  c->ca_file = getenv("BENCH_CA_FILE");
  if (c->ca_file && !*c->ca_file) c->ca_file = NULL;
  c->calls = strtol(bench_env("BENCH_CALLS", NULL), NULL, 10);
  c->concurrency = strtol(bench_env("BENCH_CONCURRENCY", "16"), NULL, 10);
  snprintf(bearer, sizeof bearer, "Bearer %s", bench_env("BENCH_TOKEN", NULL));
  h = bench_header(h, "Authorization", bearer);
  h = bench_header(h, "x-api-key", bench_env("BENCH_API_KEY", NULL));
  h = bench_header(h, "x-gw-ims-org-id", bench_env("BENCH_ORG_ID", NULL));
  h = bench_header(h, "x-sandbox-name", bench_env("BENCH_SANDBOX", NULL));
  h = bench_header(h, "Accept", "application/json");
  h = bench_header(h, "Content-Type", "application/json");
  c->headers = curl_slist_append(h, "Expect:");
}

static size_t bench_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  struct bench_buffer *b = userdata;
  size_t n = size * nmemb;
  if (n > sizeof b->data - b->len) return 0;
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  return n;
}

static void bench_setup(CURL *easy, const struct bench_config *c, struct bench_buffer *b) {
  curl_easy_setopt(easy, CURLOPT_URL, c->url);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, c->body);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, bench_write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  if (c->ca_file) curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_file);
}

/* True when the transfer got the expected 201 with a body. */
static int bench_created(CURL *easy, const struct bench_buffer *b) {
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  return status == 201 && b->len > 0;
}

static double bench_clock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_report(long calls, long ok, double wall, double cpu, long connects) {
  printf("result calls=%ld ok=%ld wall=%.6f cpu=%.6f connects=%ld\n", calls, ok, wall, cpu, connects);
}

#endif
