#!/usr/bin/python3
"""query_client.py PORT N TOKEN LICENSES - sends N POST /v1/query by license
on one keep-alive connection, one at a time (for bench-instr.sh: a fixed
number of requests, unlike wrk's fixed time).  Prints the count of
non-200 answers."""
import http.client
import sys

port, n, token, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lics = open(path).read().split()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
bad = 0
for i in range(n):
    body = ('{"type":"driver","by":"license","license_number":"%s",'
            '"purpose":"criminal_investigation","reason":"bench"}' % lics[i % len(lics)])
    conn.request("POST", "/v1/query", body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    bad += r.status != 200
print(bad)
