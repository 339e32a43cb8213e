"""A Hierarchy Provider as small services are often written: Python's standard http.server,
one thread, HTTP/1.0 (every connection closed after its answer), a listen backlog of 5.

School 999 has class 344, and every student asked about is in it. Prints its port, then
serves until killed. Used by tests/tests/server/hierarchy_providers.rs.
"""

import http.server
import json
import sys
import urllib.parse


class Provider(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        parts = self.path.split("/")
        if parts[1:] == ["hp", "hierarchy", "levels"]:
            body = {"student": 0, "class": 1, "school": 2}
        elif len(parts) == 6 and parts[1:4] == ["hp", "hierarchy", "users"] and parts[5] == "membership":
            student = urllib.parse.unquote(parts[4])
            body = ["(school)(999)", "(class)(344)", f"(student)({student})"]
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class SmallBacklog(http.server.HTTPServer):
    request_queue_size = 5


server = SmallBacklog(("127.0.0.1", 0), Provider)
print(server.server_address[1], flush=True)
server.serve_forever()
