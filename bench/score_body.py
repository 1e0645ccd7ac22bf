"""The score request every load benchmark sends: the German credit data's first applicant."""
import csv
import json
import sys

rows = list(csv.reader(open(sys.argv[1])))
app = {k: (int(v) if v.isdigit() else v) for k, v in zip(rows[0], rows[1]) if k != "creditability"}
print(json.dumps({"application_id": "bench", "application": app}))
