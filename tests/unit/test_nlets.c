/*
 * Unit tests for the Nlets text codec: every search form parses into the
 * struct query that query_parse builds from the equivalent JSON; every
 * malformed-input class gets its exact reject text; the golden files in
 * tests/nlets (NAME.in -> NAME.out) run against a small records.db built
 * here; a DRIVER_PRIVILEGE_CARD holder's DR has the same form and length
 * as a REAL_ID holder's; small buffers overflow cleanly.
 *
 * Golden cases are decided by a stand-in for the policy, from the file
 * name (see tests/nlets/README.md).  NLETS_GOLDEN_UPDATE=1 rewrites the
 * .out files instead of comparing.
 */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#include "field.h"
#include "nlets.h"
#include "query.h"
#include "store.h"
#include "util.h"

#define AUTH_ORI "CA0340000"
#define AUDIT_INDEX 7

#define DHDR "license_number,last_name,first_name,middle_name,suffix,dob,sex,height_in," \
	     "weight_lb,eye_color,hair_color,street,city,state,zip,license_class,license_kind," \
	     "status,restrictions,endorsements,issued,expires,photo_id,ssn,place_of_birth,documents\n"
#define HHDR "license_number,date,kind,code,description\n"
#define VHDR "plate,plate_state,plate_type,plate_expires,vin,make,model,model_year,color," \
	     "body_style,owner_license_number,owner_name,owner_street,owner_city,owner_state," \
	     "owner_zip,registration_status\n"

static const char drivers_csv[] = DHDR
    "D1234567,García-López,José,Luis,JR,1980-02-29,M,70,180,BRO,BLK,123 Main Street Apt 4,"
    "Los Angeles,CA,90012,C,REAL_ID,VALID,B,,2020-01-02,2028-02-29,P000000001,"
    "123-45-6789,\"CALIFORNIA, USA\",US_PASSPORT;SSN_CARD;PROOF_OF_RESIDENCY\n"
    /* the shape pair: same-length values, different kind, documents, ssn */
    "D2222222,Parker,Alex,Jordan,,1985-07-04,X,66,150,GRN,BRO,12 Elm St,Fresno,CA,93701,C,"
    "REAL_ID,VALID,B,,2022-01-05,2030-07-04,P000000022,555-12-3456,\"OHIO, USA\","
    "US_BIRTH_CERTIFICATE;SSN_CARD;PROOF_OF_RESIDENCY\n"
    "D3333333,Moreno,Alex,Jordan,,1985-07-04,X,66,150,GRN,BRO,34 Elm St,Fresno,CA,93701,C,"
    "DRIVER_PRIVILEGE_CARD,VALID,B,,2022-01-05,2030-07-04,P000000033,,\"JALISCO, MEXICO\","
    "FOREIGN_PASSPORT;CONSULAR_ID;PROOF_OF_RESIDENCY\n"
    /* two people a name + DOB query cannot tell apart */
    "D4444444,Smith,John,,,1975-06-15,M,72,200,BLU,BRO,1 A St,Fresno,CA,93701,A,STANDARD,"
    "SUSPENDED,,H;T,2019-01-01,2027-06-15,,,,\n"
    "D5555555,Smith,John,Q,,1975-06-15,M,69,170,HAZ,BLN,9 B Ave,San Diego,CA,92101,C,REAL_ID,"
    "VALID,,,2024-02-02,2029-06-15,P000000055,532-65-4321,,\n"
    /* a two-word last name and a two-word first name */
    "D6666666,Dela Cruz,María Elena,,,1992-11-30,F,62,125,BRO,BLK,77 Palm Dr,San Jose,CA,"
    "95112,C,STANDARD,VALID,,,2023-05-05,2028-11-30,,,,\n";

static const char history_csv[] = HHDR
    "D1234567,2022-07-01,citation,VC22350,Unsafe speed\n"
    "D1234567,2023-01-15,accident,ACC,Property damage only\n"
    "D2222222,2021-03-03,citation,VC22350,Unsafe speed\n"
    "D3333333,2021-03-03,citation,VC22350,Unsafe speed\n";

static const char vehicles_csv[] = VHDR
    "7ABC123,CA,PASSENGER,2027-01-01,1HGCM82633A004352,HONDA,ACCORD,2003,SIL,SEDAN,D1234567,"
    "\"GARCIA-LOPEZ, JOSE\",123 Main St Apt 4,Los Angeles,CA,90012,CURRENT\n";

struct fixture {
	char *dir, *db;
	struct store *store;
};

static struct fixture *fx;   /* set by the group setup */

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *p = util_aprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static int
group_setup(void **state)
{
	struct store_import_stats st;
	char *csv;

	(void)state;
	fx = calloc(1, sizeof *fx);
	fx->dir = test_tmpdir();
	csv = util_aprintf("%s/csv", fx->dir);
	fx->db = util_aprintf("%s/records.db", fx->dir);
	mkdir(csv, 0700);
	write_file(csv, "drivers.csv", drivers_csv);
	write_file(csv, "history.csv", history_csv);
	write_file(csv, "vehicles.csv", vehicles_csv);
	if (store_import(fx->db, csv, 1, &st) != 0 || st.drivers != 6 || st.vehicles != 1) {
		fprintf(stderr, "fixture import failed\n");
		return -1;
	}
	free(csv);
	fx->store = store_open(fx->db, 1);
	return fx->store == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	store_close(fx->store);
	free(fx->db);
	test_rmtree(fx->dir);
	free(fx);
	return 0;
}

/* A mask from space-separated field names. */
static field_mask
mask_of(const char *names)
{
	field_mask m = 0;
	const char *p = names;

	while (*p) {
		size_t n = strcspn(p, " ");
		int f = field_lookup(p, n);
		assert_true(f >= 0);
		m |= FIELD_BIT(f);
		p += n;
		while (*p == ' ')
			p++;
	}
	return m;
}

/* default.policy's "law-enforcement" release and "research" release. */
#define LE_ITEMS "license_number last_name first_name middle_name suffix dob sex " \
	"height_in weight_lb eye_color hair_color street city state zip license_class status " \
	"restrictions endorsements issued expires history plate plate_state plate_type " \
	"plate_expires vin make model model_year color body_style registration_status " \
	"owner_license_number owner_name owner_street owner_city owner_state owner_zip photo"
#define RESEARCH_ITEMS "license_class status restrictions endorsements issued expires " \
	"history make model model_year color body_style registration_status"

/* ------------------------------------------------------------ parsing */

static enum nlets_err
parse(const char *s, struct nlets_msg *m)
{
	return nlets_parse(s, strlen(s), "CA", m);
}

/* The JSON body the API would get for q; query_parse must rebuild q exactly. */
static void
assert_same_as_json(const struct query *q)
{
	char json[1024];
	struct query j;
	struct query_error err;
	int n;

	n = snprintf(json, sizeof json, "{\"type\":\"%s\",\"by\":\"%s\",\"purpose\":\"%s\","
	    "\"reason\":\"%s\"", q->type_name, q->by_name, q->purpose, q->reason);
#define ADD(f) if (q->f[0]) n += snprintf(json + n, sizeof json - (size_t)n, ",\"" #f "\":\"%s\"", q->f)
	ADD(license_number);
	ADD(last_name);
	ADD(first_name);
	ADD(dob);
	ADD(plate);
	ADD(plate_state);
	ADD(vin);
	ADD(legal_process);
#undef ADD
	if (q->photo)
		n += snprintf(json + n, sizeof json - (size_t)n, ",\"include\":[\"photo\"]");
	snprintf(json + n, sizeof json - (size_t)n, "}");
	if (query_parse(json, strlen(json), &j, &err) != 0)
		fail_msg("query_parse(%s): %s", json, err.message);
	assert_memory_equal(&j, q, sizeof j);
}

static void
test_parse_forms(void **state)
{
	struct nlets_msg m;

	(void)state;
	assert_int_equal(parse("DQ.CA0340000.CA.*ABC1234567.TXT\r\nOLN/D1234567.PUR/C.ATN/DET J RIVERA", &m), NLETS_OK);
	assert_int_equal(m.key, NLETS_DQ);
	assert_string_equal(m.ori, "CA0340000");
	assert_string_equal(m.control, "ABC1234567");
	assert_int_equal(m.ndest, 1);
	assert_string_equal(m.dest[0], "CA");
	assert_int_equal(m.q.type, STORE_DRIVER);
	assert_int_equal(m.q.by, STORE_BY_LICENSE);
	assert_string_equal(m.q.license_number, "D1234567");
	assert_string_equal(m.q.purpose, "criminal_investigation");
	assert_string_equal(m.q.reason, "DET J RIVERA");
	assert_int_equal(m.header_len, 31);
	assert_same_as_json(&m.q);

	assert_int_equal(parse("DQ.CA0340000.OR.CA.TXT\nNAM/GARCIA-LOPEZ, JOSE LUIS JR.DOB/02291980"
	    ".SEX/M.RSN/I.PUR/I.ATN/SA K WONG.IMQ/Y.LPR/LP-7", &m), NLETS_ERR_DOB);
	assert_int_equal(parse("DQ.CA0340000.OR.CA.TXT\nNAM/GARCIA-LOPEZ, JOSE LUIS JR.DOB/19800229"
	    ".SEX/M.RSN/I.PUR/I.ATN/SA K WONG.IMQ/Y.LPR/LP-7", &m), NLETS_OK);
	assert_int_equal(m.q.by, STORE_BY_NAME_DOB);
	assert_string_equal(m.q.last_name, "GARCIA-LOPEZ");
	assert_string_equal(m.q.first_name, "JOSE");
	assert_string_equal(m.q.dob, "1980-02-29");
	assert_int_equal(m.sex, 'M');
	assert_string_equal(m.q.purpose, "civil_immigration_enforcement");
	assert_string_equal(m.q.reason, "SA K WONG (RSN/I)");
	assert_string_equal(m.q.legal_process, "LP-7");
	assert_int_equal(m.q.photo, 1);
	assert_same_as_json(&m.q);

	/* mmddyy: the latest such date not in the future */
	assert_int_equal(parse("DQ.CA0340000.CA.TXT\nNAM/SMITH,JOHN.DOB/061575.SEX/M.PUR/U.ATN/X", &m), NLETS_OK);
	assert_string_equal(m.q.dob, "1975-06-15");
	assert_string_equal(m.q.purpose, "civil_immigration_enforcement");
	assert_int_equal(parse("DQ.CA0340000.CA.TXT\nNAM/SMITH,JOHN.DOB/010105.SEX/M.PUR/C.ATN/X", &m), NLETS_OK);
	assert_string_equal(m.q.dob, "2005-01-01");

	assert_int_equal(parse("RQ.CA0340000.CA.TXT\nLIC/7abc123.LIY/2027.LIT/PC.PUR/T.ATN/OFC M LEE", &m), NLETS_OK);
	assert_int_equal(m.q.type, STORE_VEHICLE);
	assert_int_equal(m.q.by, STORE_BY_PLATE);
	assert_string_equal(m.q.plate, "7ABC123");
	assert_string_equal(m.q.plate_state, "CA");
	assert_string_equal(m.liy, "2027");
	assert_string_equal(m.lit, "PC");
	assert_string_equal(m.q.purpose, "traffic_enforcement");
	assert_same_as_json(&m.q);

	assert_int_equal(parse("RQ.CA0340000.NL.TXT\nVIN/1HGCM82633A004352.VMA/HOND.VYR/2003.PUR/C.ATN/X", &m), NLETS_OK);
	assert_int_equal(m.q.by, STORE_BY_VIN);
	assert_string_equal(m.q.vin, "1HGCM82633A004352");
	assert_string_equal(m.vma, "HOND");
	assert_same_as_json(&m.q);

	/* control characters anywhere are ignored */
	assert_int_equal(parse("D\x7fQ.CA034\t0000.CA.TXT\r\n\x7fOLN/D12\r\n34567.PUR/C.ATN/X\r\n", &m), NLETS_OK);
	assert_string_equal(m.q.license_number, "D1234567");
	assert_int_equal(parse("DQ.CA0340000.CA.TXTOLN/D1234567.PUR/C.ATN/X", &m), NLETS_OK);
}

struct bad {
	const char *in;
	enum nlets_err err;
	const char *text;
};

#define H "DQ.CA0340000.CA.TXT\n"
#define R "RQ.CA0340000.CA.TXT\n"
#define OK_TAIL ".PUR/C.ATN/X"
static const struct bad bad[] = {
	{ "", NLETS_ERR_EMPTY, "REJECT - EMPTY MESSAGE" },
	{ "\r\n\x7f", NLETS_ERR_EMPTY, "REJECT - EMPTY MESSAGE" },
	{ H "OLN/D1234567" OK_TAIL ".ATN/J\xc3\xa9", NLETS_ERR_CHARACTER, "REJECT - INVALID CHARACTER" },
	{ H "OLN/D1" OK_TAIL "\r\nDQ.CA0340000.CA.TXT\r\nOLN/D2" OK_TAIL, NLETS_ERR_MULTIPLE,
	  "REJECT - MORE THAN ONE MESSAGE" },
	{ "HELLO WORLD", NLETS_ERR_KEY, "REJECT - INVALID MESSAGE KEY" },
	{ "ZQ.CA0340000.CA.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_KEY, "REJECT - INVALID MESSAGE KEY" },
	{ "dq.CA0340000.CA.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_KEY, "REJECT - INVALID MESSAGE KEY" },
	{ "KQ.CA0340000.CA.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_KEY_UNSUPPORTED, "REJECT - MESSAGE KEY NOT SUPPORTED" },
	{ "DNQ.CA0340000.CA.TXT\nNAM/SMITH,JOHN" OK_TAIL, NLETS_ERR_KEY_NAME_ONLY,
	  "REJECT - NAME-ONLY QUERY NOT SUPPORTED" },
	{ "RPQ.CA0340000.CA.TXT\nLIC/7AB" OK_TAIL, NLETS_ERR_KEY_PARTIAL, "REJECT - PARTIAL PLATE QUERY NOT SUPPORTED" },
	{ "DQG.CA0340000.CA.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_KEY_REGION, "REJECT - REGIONAL QUERY NOT SUPPORTED" },
	{ "DQ.CA0340000.CA.OR.WA.*ABCDEFGHIJ.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_HEADER_LENGTH, "REJECT - HEADER LENGTH" },
	{ "DQ.CA.CA.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_HEADER_LENGTH, "REJECT - HEADER LENGTH" },
	{ "DQ.CA0340000CA0340000CA0340000CA0340000.CA.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_HEADER_LENGTH,
	  "REJECT - HEADER LENGTH" },
	{ "DQ.CA0340000.CA.*ABCDEFGHIJKLMNOPQRSTUVWXYZ.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_HEADER_LENGTH,
	  "REJECT - HEADER LENGTH" },
	{ "DQ.CA0340000", NLETS_ERR_MISSING_TXT, "REJECT - MISSING TXT" },
	{ "DQ.CA0340000.CA.*C1.OLN/D1" OK_TAIL, NLETS_ERR_MISSING_TXT, "REJECT - MISSING TXT" },
	{ "DQ.CA0340000.CA.OLN/D1" OK_TAIL, NLETS_ERR_MISSING_TXT, "REJECT - MISSING TXT" },
	{ "DQ.CA034000X0.CA.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_ORI, "REJECT - INVALID ORI" },
	{ "DQ.CA0340000.C1.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_DEST, "REJECT - INVALID DESTINATION" },
	{ "DQ.CA0340000.*ABC.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_DEST_MISSING, "REJECT - MISSING DESTINATION" },
	{ "DQ.CA0340000.A.B.C.D.E.F.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_DEST_COUNT, "REJECT - TOO MANY DESTINATIONS" },
	{ "DQ.CA0340000.OR.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_DEST_NOT_SERVED, "REJECT - DESTINATION NOT SERVED" },
	{ "DQ.CA0340000.CA.*AB-1.TXT\nOLN/D1" OK_TAIL, NLETS_ERR_CONTROL, "REJECT - INVALID CONTROL FIELD" },
	{ H, NLETS_ERR_NO_DATA, "REJECT - MISSING DATA FIELDS" },
	{ H "OLN/D1" OK_TAIL ".", NLETS_ERR_TRAILING_PERIOD, "REJECT - TRAILING PERIOD" },
	{ H "OLN/D1..PUR/C.ATN/X", NLETS_ERR_FIELD_FORMAT, "REJECT - INVALID FIELD FORMAT" },
	{ H "OLN D1" OK_TAIL, NLETS_ERR_FIELD_FORMAT, "REJECT - INVALID FIELD FORMAT" },
	{ H "OLNX/D1" OK_TAIL, NLETS_ERR_FIELD_FORMAT, "REJECT - INVALID FIELD FORMAT" },
	{ H "XYZ/D1" OK_TAIL, NLETS_ERR_TAG_UNKNOWN, "REJECT - UNKNOWN TAG" },
	{ H "VIN/1HGCM82633A004352" OK_TAIL, NLETS_ERR_TAG_NOT_ALLOWED, "REJECT - TAG NOT VALID FOR MESSAGE KEY" },
	{ R "VIN/1HGCM82633A004352.IMQ/Y" OK_TAIL, NLETS_ERR_TAG_NOT_ALLOWED, "REJECT - TAG NOT VALID FOR MESSAGE KEY" },
	{ H "OLN/D1.OLN/D2" OK_TAIL, NLETS_ERR_TAG_DUPLICATE, "REJECT - DUPLICATE TAG" },
	{ H "OLN/" OK_TAIL, NLETS_ERR_FIELD_EMPTY, "REJECT - EMPTY FIELD" },
	{ H "OLN/D12345678901234567890" OK_TAIL, NLETS_ERR_FIELD_LENGTH, "REJECT - FIELD TOO LONG" },
	{ H "OLN/D1 2" OK_TAIL, NLETS_ERR_OLN, "REJECT - INVALID OLN" },
	{ H "NAM/SMITH JOHN.DOB/19750615.SEX/M" OK_TAIL, NLETS_ERR_NAM, "REJECT - INVALID NAM" },
	{ H "NAM/SMITH,JOHN.DOB/19750230.SEX/M" OK_TAIL, NLETS_ERR_DOB, "REJECT - INVALID DOB" },
	{ H "NAM/SMITH,JOHN.DOB/1975061.SEX/M" OK_TAIL, NLETS_ERR_DOB, "REJECT - INVALID DOB" },
	{ H "NAM/SMITH,JOHN.DOB/29990101.SEX/M" OK_TAIL, NLETS_ERR_DOB, "REJECT - INVALID DOB" },
	{ H "NAM/SMITH,JOHN.DOB/19750615.SEX/Q" OK_TAIL, NLETS_ERR_SEX, "REJECT - INVALID SEX" },
	{ H "OLN/D1.RSN/Z" OK_TAIL, NLETS_ERR_RSN, "REJECT - INVALID RSN" },
	{ H "OLN/D1.PUR/Q.ATN/X", NLETS_ERR_PUR, "REJECT - INVALID PUR" },
	{ H "OLN/D1.PUR/J.ATN/X", NLETS_ERR_PUR_UNSUPPORTED, "REJECT - PUR CODE NOT ACCEPTED" },
	{ H "OLN/D1.PUR/C.ATN/DET;RIVERA", NLETS_ERR_ATN, "REJECT - INVALID ATN" },
	{ H "OLN/D1.IMQ/P" OK_TAIL, NLETS_ERR_IMQ, "REJECT - INVALID IMQ" },
	{ H "OLN/D1.LPR/LP 7" OK_TAIL, NLETS_ERR_LPR, "REJECT - INVALID LPR" },
	{ R "LIC/7AB-123.LIY/2027.LIT/PC" OK_TAIL, NLETS_ERR_LIC, "REJECT - INVALID LIC" },
	{ R "LIC/7ABC123.LIY/27.LIT/PC" OK_TAIL, NLETS_ERR_LIY, "REJECT - INVALID LIY" },
	{ R "LIC/7ABC123.LIY/2027.LIT/P1" OK_TAIL, NLETS_ERR_LIT, "REJECT - INVALID LIT" },
	{ R "VIN/1HGCM-2633A004352" OK_TAIL, NLETS_ERR_VIN, "REJECT - INVALID VIN" },
	{ R "VIN/1HGCM82633A004352.VMA/HO D" OK_TAIL, NLETS_ERR_VMA, "REJECT - INVALID VMA" },
	{ R "VIN/1HGCM82633A004352.VYR/03" OK_TAIL, NLETS_ERR_VYR, "REJECT - INVALID VYR" },
	{ H "NAM/SMITH,JOHN.DOB/19750615" OK_TAIL, NLETS_ERR_DQ_MISSING, "REJECT - MISSING OLN OR NAM/DOB/SEX" },
	{ H "PUR/C.ATN/X", NLETS_ERR_DQ_MISSING, "REJECT - MISSING OLN OR NAM/DOB/SEX" },
	{ H "OLN/D1.SEX/M" OK_TAIL, NLETS_ERR_DQ_BOTH, "REJECT - OLN WITH NAM/DOB/SEX" },
	{ R "LIC/7ABC123.LIY/2027" OK_TAIL, NLETS_ERR_RQ_MISSING, "REJECT - MISSING LIC/LIY/LIT OR VIN" },
	{ R "LIC/7ABC123.VIN/1HGCM82633A004352" OK_TAIL, NLETS_ERR_RQ_BOTH, "REJECT - LIC WITH VIN" },
	{ R "LIC/7ABC123.LIY/2027.LIT/PC.VMA/HOND" OK_TAIL, NLETS_ERR_VMA_WITHOUT_VIN,
	  "REJECT - VMA/VYR ONLY WITH VIN" },
	{ H "OLN/D1.ATN/X", NLETS_ERR_PUR_MISSING, "REJECT - MISSING PUR" },
	{ H "OLN/D1.PUR/C", NLETS_ERR_ATN_MISSING, "REJECT - MISSING ATN" },
};

static void
test_malformed(void **state)
{
	struct nlets_msg m;
	char big[NLETS_MAX_MESSAGE + 2];
	unsigned char covered[NLETS_ERR_COUNT] = { 0 };

	(void)state;
	for (size_t i = 0; i < UTIL_NELEM(bad); i++) {
		enum nlets_err e = parse(bad[i].in, &m);
		if (e != bad[i].err)
			fail_msg("case %zu (%s): got %s, want %s", i, bad[i].in, nlets_err_name(e),
			    nlets_err_name(bad[i].err));
		assert_string_equal(nlets_err_text(e), bad[i].text);
		covered[e] = 1;
	}
	memset(big, 'A', sizeof big);
	assert_int_equal(nlets_parse(big, NLETS_MAX_MESSAGE + 1, "CA", &m), NLETS_ERR_TOO_LONG);
	covered[NLETS_ERR_TOO_LONG] = 1;
	covered[NLETS_ERR_ORI_MISMATCH] = 1;   /* test_spoof */
	for (int e = 1; e < NLETS_ERR_COUNT; e++)
		if (!covered[e])
			fail_msg("error class %s has no test", nlets_err_name((enum nlets_err)e));
	/* texts are unique */
	for (int a = 1; a < NLETS_ERR_COUNT; a++)
		for (int b = a + 1; b < NLETS_ERR_COUNT; b++)
			assert_string_not_equal(nlets_err_text((enum nlets_err)a), nlets_err_text((enum nlets_err)b));
}

static void
test_spoof(void **state)
{
	struct nlets_msg m;
	char out[512];
	int n;

	(void)state;
	assert_int_equal(parse("DQ.CA0190000.CA.*Q1.TXT\nOLN/D1234567" OK_TAIL, &m), NLETS_OK);
	assert_string_equal(m.ori, "CA0190000");
	assert_int_equal(nlets_check_ori(&m, "CA0190000"), NLETS_OK);
	assert_int_equal(nlets_check_ori(&m, AUTH_ORI), NLETS_ERR_ORI_MISMATCH);
	assert_int_equal(nlets_check_ori(&m, "CA019000"), NLETS_ERR_ORI_MISMATCH);
	assert_int_equal(nlets_check_ori(&m, NULL), NLETS_ERR_ORI_MISMATCH);
	n = nlets_reject(out, sizeof out, &m, NLETS_ERR_ORI_MISMATCH, 12);
	assert_true(n > 0);
	assert_string_equal(out, "ER.CAOLN0000.CA0190000.*Q1.TXT\n"
	    "REJECT - ORI NOT AUTHORIZED FOR THIS CONNECTION\nAUD/12\n");
	/* a reject before the header was readable echoes nothing */
	assert_int_equal(nlets_parse("", 0, "CA", &m), NLETS_ERR_EMPTY);
	n = nlets_reject(out, sizeof out, &m, NLETS_ERR_EMPTY, -1);
	assert_string_equal(out, "ER.CAOLN0000.TXT\nREJECT - EMPTY MESSAGE\n");
	/* an invalid control field is not echoed */
	assert_int_equal(parse("DQ.CA0340000.CA.*A-B.TXT\nOLN/D1" OK_TAIL, &m), NLETS_ERR_CONTROL);
	n = nlets_reject(out, sizeof out, &m, NLETS_ERR_CONTROL, -1);
	assert_string_equal(out, "ER.CAOLN0000.CA0340000.TXT\nREJECT - INVALID CONTROL FIELD\n");
	(void)n;
}

static void
test_purposes(void **state)
{
	(void)state;
	assert_string_equal(nlets_purpose('C'), "criminal_investigation");
	assert_string_equal(nlets_purpose('I'), "civil_immigration_enforcement");
	assert_string_equal(nlets_purpose('U'), "civil_immigration_enforcement");
	assert_string_equal(nlets_purpose('T'), "traffic_enforcement");
	assert_null(nlets_purpose('F'));
	assert_null(nlets_purpose('Z'));
}

/* ------------------------------------------------------------ answering */

struct answer {
	struct nlets_writer *w;
	const struct nlets_msg *m;
	field_mask rel;
	int rc;
};

static int
answer_row(void *arg, const struct store_row *row)
{
	struct answer *a = arg;

	if (a->m->key == NLETS_DQ)
		a->rc |= nlets_encode_driver(a->w, row, a->rel);
	else
		a->rc |= nlets_encode_vehicle(a->w, row, a->rel);
	return 0;
}

/*
 * What the server does, with a stand-in for the policy decided from the
 * case name: parse, spoof check, decide, look up, encode.
 */
static int
answer(const char *name, const char *in, size_t inlen, char *out, size_t outsz)
{
	struct nlets_msg m;
	struct nlets_writer w;
	struct store_query sq;
	struct answer a;
	enum nlets_err e;
	int n;

	e = nlets_parse(in, inlen, "CA", &m);
	if (e == NLETS_OK)
		e = nlets_check_ori(&m, AUTH_ORI);
	if (e != NLETS_OK)
		return nlets_reject(out, outsz, &m, e, AUDIT_INDEX);
	nlets_writer_init(&w, out, outsz);
	nlets_begin(&w, &m);
	if (strncmp(name, "deny-", 5) == 0) {
		const char *rules[] = { "immigration-needs-judicial-process", "no-photo-for-immigration" };
		nlets_encode_denial(&w, "civil immigration enforcement needs a judicial warrant or "
		    "court order naming the subject (NY VTL 201(12)(a))", rules, m.q.photo ? 2 : 1);
		return nlets_finish(&w, AUDIT_INDEX);
	}
	a.w = &w;
	a.m = &m;
	a.rel = mask_of(strncmp(name, "research-", 9) == 0 ? RESEARCH_ITEMS : LE_ITEMS);
	if (!m.q.photo)
		a.rel &= ~FIELD_BIT(FIELD_PHOTO);
	a.rc = 0;
	query_to_store(&m.q, &sq);
	/* the server also reads photo_id when the photo is released */
	n = store_find(fx->store, &sq, a.rel | ((a.rel & FIELD_BIT(FIELD_PHOTO)) ?
	    FIELD_BIT(FIELD_PHOTO_ID) : 0), 10, answer_row, &a);
	assert_true(n >= 0);
	if (n == 0)
		nlets_encode_not_on_file(&w);
	return nlets_finish(&w, AUDIT_INDEX);
}

static int
answer_s(const char *name, const char *in, char *out, size_t outsz)
{
	return answer(name, in, strlen(in), out, outsz);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_golden(void **state)
{
	char dir[1024], *names[256], *in = NULL, *want = NULL, out[NLETS_RESPONSE_MAX];
	size_t nnames = 0, inlen, wantlen;
	int update = getenv("NLETS_GOLDEN_UPDATE") != NULL, failures = 0;
	struct dirent *de;
	DIR *d;

	(void)state;
	snprintf(dir, sizeof dir, "%s/tests/nlets", test_srcdir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL && nnames < UTIL_NELEM(names)) {
		size_t l = strlen(de->d_name);
		if (l > 3 && strcmp(de->d_name + l - 3, ".in") == 0)
			names[nnames++] = strndup(de->d_name, l - 3);
	}
	closedir(d);
	assert_true(nnames >= 20);
	qsort(names, nnames, sizeof names[0], cmp_names);
	for (size_t i = 0; i < nnames; i++) {
		char *p = util_aprintf("%s/%s.in", dir, names[i]);
		int n;

		assert_int_equal(util_read_file(p, 1 << 16, &in, &inlen), 0);
		free(p);
		n = answer(names[i], in, inlen, out, sizeof out);
		assert_true(n > 0);
		p = util_aprintf("%s/%s.out", dir, names[i]);
		if (update) {
			assert_int_equal(util_write_file_atomic(p, out, (size_t)n, 0644), 0);
		} else if (util_read_file(p, 1 << 16, &want, &wantlen) != 0) {
			fprintf(stderr, "golden %s: no .out\n", names[i]);
			failures++;
		} else {
			if (wantlen != (size_t)n || memcmp(want, out, wantlen) != 0) {
				fprintf(stderr, "golden %s: got\n%s--- want\n%s---\n", names[i], out, want);
				failures++;
			}
			free(want);
			want = NULL;
		}
		free(p);
		free(in);
		in = NULL;
		free(names[i]);
	}
	assert_int_equal(failures, 0);
}

/* The response with every value replaced by its length in '#'s removed: the form. */
static void
skeleton(const char *s, char *out, size_t outsz)
{
	size_t o = 0;
	int in_value = 0;

	for (; *s && o + 1 < outsz; s++) {
		if (*s == '/')
			in_value = 1;
		else if (*s == '.' || *s == '\n')
			in_value = 0;
		if (!in_value || *s == '/')
			out[o++] = *s;
	}
	out[o] = '\0';
}

static void
test_dpc_same_form(void **state)
{
	char real[4096], dpc[4096], sr[4096], sd[4096];
	int nr, nd;

	(void)state;
	nr = answer_s("shape", "DQ.CA0340000.CA.TXT\nOLN/D2222222.IMQ/Y.PUR/C.ATN/X", real, sizeof real);
	nd = answer_s("shape", "DQ.CA0340000.CA.TXT\nOLN/D3333333.IMQ/Y.PUR/C.ATN/X", dpc, sizeof dpc);
	assert_true(nr > 0 && nd > 0);
	/* same length, same tags in the same order, nothing sensitive */
	assert_int_equal(nr, nd);
	skeleton(real, sr, sizeof sr);
	skeleton(dpc, sd, sizeof sd);
	assert_string_equal(sr, sd);
	assert_null(strstr(dpc, "DRIVER_PRIVILEGE"));
	assert_null(strstr(dpc, "PRIVILEGE"));
	assert_null(strstr(dpc, "JALISCO"));
	assert_null(strstr(dpc, "PASSPORT"));
	assert_null(strstr(dpc, "CONSULAR"));
	assert_null(strstr(real, "555"));
	assert_null(strstr(real, "REAL"));
	assert_null(strstr(sr, "SOC/"));
	assert_null(strstr(sr, "SSN/"));
	/* everything but the names and license numbers is equal */
	assert_non_null(strstr(real, "NAM/PARKER,ALEX JORDAN"));
	assert_non_null(strstr(dpc, "NAM/MORENO,ALEX JORDAN"));
}

struct mask_probe {
	struct nlets_writer *w;
	field_mask rel;
};

static int
probe_row(void *arg, const struct store_row *row)
{
	struct mask_probe *p = arg;

	assert_int_equal(nlets_encode_driver(p->w, row, p->rel), 0);
	return 0;
}

/* Even a mask that (wrongly) names the sensitive fields writes none of them. */
static void
test_sensitive_never(void **state)
{
	char out[4096];
	struct nlets_writer w;
	struct store_query sq = { .type = STORE_DRIVER, .by = STORE_BY_LICENSE,
		.license_number = "D1234567" };
	struct mask_probe p = { &w, ~(field_mask)0 };

	(void)state;
	nlets_writer_init(&w, out, sizeof out);
	assert_int_equal(store_find(fx->store, &sq, ~(field_mask)0, 1, probe_row, &p), 1);
	assert_true(nlets_finish(&w, -1) > 0);
	assert_null(strstr(out, "123-45"));
	assert_null(strstr(out, "REAL"));
	assert_null(strstr(out, "PASSPORT"));
	assert_null(strstr(out, "CALIFORNIA"));
	/* one tag only: last name; nothing else on the line */
	nlets_writer_init(&w, out, sizeof out);
	p.rel = FIELD_BIT(FIELD_LAST_NAME);
	assert_int_equal(store_find(fx->store, &sq, p.rel, 1, probe_row, &p), 1);
	assert_true(nlets_finish(&w, -1) > 0);
	assert_string_equal(out, "NAM/GARCIA-LOPEZ,\n");
}

static void
test_overflow(void **state)
{
	char out[4096], small[40];
	struct nlets_msg m;
	int full;

	(void)state;
	full = answer_s("x", "DQ.CA0340000.CA.TXT\nOLN/D1234567.PUR/C.ATN/X", out, sizeof out);
	assert_true(full > 0);
	for (size_t sz = 1; sz < (size_t)full + 1; sz += 7) {
		memset(small, 'Z', sizeof small);
		if (sz > sizeof small)
			break;
		assert_int_equal(answer_s("x", "DQ.CA0340000.CA.TXT\nOLN/D1234567.PUR/C.ATN/X", small, sz), -1);
		assert_int_equal(small[strnlen(small, sz)], '\0');
		assert_true(strnlen(small, sz) < sz);
	}
	assert_int_equal(answer_s("x", "DQ.CA0340000.CA.TXT\nOLN/D1234567.PUR/C.ATN/X", out,
	    (size_t)full + 1), full);
	assert_int_equal(parse("DQ.CA0340000.CA.TXT\nOLN/D1" OK_TAIL, &m), NLETS_OK);
	assert_int_equal(nlets_reject(small, 10, &m, NLETS_ERR_DOB, -1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_spoof),
		cmocka_unit_test(test_purposes),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_dpc_same_form),
		cmocka_unit_test(test_sensitive_never),
		cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
