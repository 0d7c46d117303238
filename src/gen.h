/*
 * gen.h - the synthetic DMV data generator behind `dmvgate gen`: drivers,
 * their history events and vehicles as three RFC 4180 CSV files with the
 * canonical column names of field.h.
 *
 * Output is a pure function of (seed, drivers, vehicles, dpc share): the
 * drivers are cut into fixed-size chunks, each chunk draws from its own
 * PRNG seeded from (seed, chunk index) and uses only integer arithmetic,
 * and chunks are written in order, so the bytes do not depend on the
 * number of threads or the machine.  Unique keys (license number, photo
 * id, SSN, plate, VIN) come from keyed permutations of global indexes, so
 * chunks never need to talk to each other.
 *
 * The second half of this header declares the static tables of
 * gen_data.c (names, cities, streets, vehicle models); only gen.c and the
 * unit tests use them.
 */
#ifndef DMVGATE_GEN_H
#define DMVGATE_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Limits of one run (license numbers: 26 x 10^7; plates and VINs are
 * sized for this). */
#define GEN_MAX_DRIVERS 100000000u
#define GEN_MAX_VEHICLES 150000000u
/* The date every age and expiry is relative to: 2026-01-01, not today. */
#define GEN_REF_YEAR 2026

struct gen_opts {
	uint64_t drivers;      /* >= 1, <= GEN_MAX_DRIVERS */
	uint64_t vehicles;     /* <= GEN_MAX_VEHICLES and <= 10 x drivers + 1000 */
	uint64_t seed;
	uint32_t dpc_ppm;      /* DRIVER_PRIVILEGE_CARD share, parts per million */
	unsigned threads;      /* worker threads, 1..16; does not change the output */
	int progress;          /* draw util_progress on a terminal */
	const char *outdir;    /* created (mode 0755) when missing */
};

struct gen_stats {
	uint64_t drivers, history, vehicles;
	uint64_t bytes;        /* total bytes written to the three files */
};

/* Default options: 1.05 x drivers vehicles, seed 1, 10% DPC, 2 threads. */
void gen_opts_default(struct gen_opts *o, uint64_t drivers);

/* Default vehicle count for n drivers: round(1.05 n). */
uint64_t gen_default_vehicles(uint64_t drivers);

/*
 * Writes outdir/drivers.csv, history.csv and vehicles.csv.  Returns 0 and
 * fills *st (may be NULL), or -1 after printing the reason on stderr.
 * Allocates and frees its own buffers; nothing is left to the caller.
 */
int gen_run(const struct gen_opts *o, struct gen_stats *st);

/* ---- tables (gen_data.c) ---- */

/* A string with a relative weight. */
struct gen_wstr {
	const char *s;
	uint32_t w;
};

/* A population group: its names, foreign birthplaces and shares. */
struct gen_group {
	const char *name;
	uint32_t share;          /* share of drivers, per 10,000 */
	uint32_t dpc_share;      /* share of DRIVER_PRIVILEGE_CARD holders, per 10,000 */
	uint32_t foreign_born;   /* REAL_ID/STANDARD holders born abroad, per 10,000 */
	uint32_t light;          /* lighter eye/hair colours, per 10,000 */
	const struct gen_wstr *last;
	size_t nlast;
	const struct gen_wstr *male;
	size_t nmale;
	const struct gen_wstr *female;
	size_t nfemale;
	const struct gen_wstr *born;   /* "PLACE, COUNTRY" abroad */
	size_t nborn;
};

struct gen_city {
	const char *name;        /* upper case, as on a license */
	uint32_t pop_k;          /* population in thousands (the weight) */
	const char *zips;        /* its ZIP codes, 5 digits each, concatenated */
};

enum gen_body {
	GEN_SEDAN, GEN_COUPE, GEN_SUV, GEN_PICKUP, GEN_VAN, GEN_WAGON,
	GEN_HATCHBACK, GEN_CONVERTIBLE, GEN_MOTORCYCLE, GEN_TRAILER, GEN_TRUCK,
	GEN_BODY_COUNT
};

struct gen_model {
	const char *make;
	const char *model;
	const char *wmi;         /* 3 characters, matching the make */
	enum gen_body body;
	uint16_t year_min, year_max;
	uint32_t w;
};

extern const struct gen_group gen_groups[];
extern const size_t gen_ngroups;
extern const struct gen_city gen_cities[];
extern const size_t gen_ncities;
extern const char *const gen_street_names[];
extern const size_t gen_nstreet_names;
extern const struct gen_wstr gen_street_suffixes[];
extern const size_t gen_nstreet_suffixes;
extern const struct gen_wstr gen_us_states[];   /* "TEXAS, USA", ... */
extern const size_t gen_nus_states;
extern const struct gen_model gen_models[];
extern const size_t gen_nmodels;
extern const char *const gen_body_names[GEN_BODY_COUNT];
extern const char *const gen_company_words[];
extern const size_t gen_ncompany_words;
extern const char *const gen_company_kinds[];
extern const size_t gen_ncompany_kinds;
extern const char *const gen_vanity_words[];   /* 2..4 letters, A-Z */
extern const size_t gen_nvanity_words;

#endif /* DMVGATE_GEN_H */
