"""A stock Python gRPC client of the original `Search` contract, run against tern's service.

Generates its stubs from proto/search.proto with grpcio-tools at run time (as a client team
would), then checks answers, ordering, paging and error codes. Prints one JSON line and
exits 0 when every check passed.

usage: search_client.py HOST:PORT
"""

import json
import pathlib
import sys
import tempfile

import grpc
from grpc_tools import protoc

PROTO_DIR = pathlib.Path(__file__).resolve().parents[2] / "proto"


def load_stubs(out_dir):
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    code = protoc.main([
        "protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}", str(PROTO_DIR / "search.proto"),
    ])
    if code != 0:
        raise SystemExit(f"protoc failed with {code}")
    sys.path.insert(0, str(out_dir))
    import search_pb2
    import search_pb2_grpc
    return search_pb2, search_pb2_grpc


def main(target):
    from google.protobuf import empty_pb2

    with tempfile.TemporaryDirectory() as out:
        pb, pb_grpc = load_stubs(out)
        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = pb_grpc.SearchStub(channel)

        def names(**kw):
            return [r.response for r in stub.search(pb.SearchRequest(**kw), timeout=5).responses]

        def error_of(**kw):
            try:
                stub.search(pb.SearchRequest(**kw), timeout=5)
            except grpc.RpcError as e:
                return e.code(), e.details()
            return None, None

        checks = {}
        checks["monitor_counts_features"] = stub.monitor(empty_pb2.Empty(), timeout=5).n_things > 300
        checks["paris_in_france"] = names(lat=48.8566, lng=2.3522) == ["France"]
        checks["austin_most_specific_first"] = names(lat=30.2672, lng=-97.7431) == [
            "Texas", "United States of America"]
        checks["mid_atlantic_empty"] = names(lat=30.0, lng=-40.0) == []
        checks["maseru_in_lesotho_only"] = names(lat=-29.31, lng=27.48) == ["Lesotho"]
        checks["accent_insensitive_name"] = names(query="sao paulo")[:1] == ["São Paulo"]
        checks["name_and_point"] = names(query="texas", lat=30.2672, lng=-97.7431) == ["Texas"]
        checks["paging"] = names(query="a", result_per_page=3, page_number=2) == names(
            query="a", result_per_page=6)[3:6]
        code, details = error_of(lat=95.0, lng=0.0)
        checks["bad_lat_invalid_argument"] = (
            code == grpc.StatusCode.INVALID_ARGUMENT and "lat" in (details or ""))
        code, details = error_of(lat=1.0, lng=1.0, result_per_page=-1)
        checks["bad_page_size_invalid_argument"] = (
            code == grpc.StatusCode.INVALID_ARGUMENT and "result_per_page" in (details or ""))
        channel.close()

    ok = all(checks.values())
    print(json.dumps({"ok": ok, "checks": checks}))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
