"""A Python client of actorlog's gRPC Log service, generated from
messages/*.proto with Debian's protoc and gRPC plugin, as any team would.
The polyglot spec (specs/grpc_python_test.go) runs it against a cluster with
mutual TLS and checks each JSON line it prints."""

import argparse
import json
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gen", required=True, help="directory of the generated modules")
    p.add_argument("--server", required=True, help="gRPC address of any node")
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True, help="a client allowed everything")
    p.add_argument("--key", required=True)
    p.add_argument("--denied-cert", required=True, help="a client allowed nothing")
    p.add_argument("--denied-key", required=True)
    a = p.parse_args()
    sys.path.insert(0, a.gen)

    import grpc
    import actorlog_pb2 as pb
    import log_pb2
    import log_pb2_grpc
    import rpc_status_pb2

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    ca = read(a.ca)

    def stub(addr, cert, key):
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=read(key), certificate_chain=read(cert))
        return log_pb2_grpc.LogStub(grpc.secure_channel(addr, creds))

    def out(**kv):
        print(json.dumps(kv), flush=True)

    def details(err):
        """The status details of a failed call, by message name."""
        raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
        st = rpc_status_pb2.RpcStatus()
        st.ParseFromString(raw or b"")
        found = {}
        for any_ in st.details:
            name = any_.type_url.rsplit("/", 1)[-1]
            for cls in (pb.OffsetOutOfRange, pb.Unauthorized, pb.InvalidRequest, pb.NotLeader):
                if name == cls.DESCRIPTOR.full_name:
                    m = cls()
                    any_.Unpack(m)
                    found[name] = m
        return found

    # Find the leader, as client-side balancing does.
    any_node = stub(a.server, a.cert, a.key)
    servers = any_node.GetServers(pb.ServersRequest(), timeout=10).servers
    leader_addr = [s.grpc_address for s in servers if s.is_leader][0]
    out(step="servers", count=len(servers), leader=leader_addr)
    log = stub(leader_addr, a.cert, a.key)

    res = log.Produce(pb.ProduceRequest(records=[pb.Record(value=b"py-0"), pb.Record(value=b"py-1")],
                                        producer_id="python", sequence=1), timeout=10)
    first = res.offsets[0]
    out(step="produce", offsets=list(res.offsets))
    again = log.Produce(pb.ProduceRequest(records=[pb.Record(value=b"py-0"), pb.Record(value=b"py-1")],
                                          producer_id="python", sequence=1), timeout=10)
    out(step="produce_retry", offsets=list(again.offsets))

    got = log.Consume(pb.ConsumeRequest(offset=first), timeout=10)
    out(step="consume", values=[r.value.decode() for r in got.records])

    def requests():
        for i in range(20):
            yield pb.ProduceRequest(records=[pb.Record(value=("py-stream-%d" % i).encode())],
                                    producer_id="python-stream", sequence=i + 1)

    offsets = [r.offsets[0] for r in log.ProduceStream(requests(), timeout=30)]
    out(step="produce_stream", offsets=offsets)

    stream = log.ConsumeStream(log_pb2.ConsumeStreamRequest(offset=first), timeout=30)
    values = []
    for resp in stream:
        values.extend(r.value.decode() for r in resp.records)
        if len(values) >= 22:
            stream.cancel()
            break
    out(step="consume_stream", values=values)

    try:
        log.Consume(pb.ConsumeRequest(offset=first + 1000000), timeout=10)
        out(step="out_of_range", code="OK")
    except grpc.RpcError as e:
        d = details(e).get("actorlog.v1.OffsetOutOfRange")
        out(step="out_of_range", code=e.code().name, offset=d.offset, low=d.low_offset, next=d.next_offset)

    denied = stub(leader_addr, a.denied_cert, a.denied_key)
    try:
        denied.Produce(pb.ProduceRequest(records=[pb.Record(value=b"refused")]), timeout=10)
        out(step="permission_denied", code="OK")
    except grpc.RpcError as e:
        d = details(e).get("actorlog.v1.Unauthorized")
        out(step="permission_denied", code=e.code().name, identity=d.identity, action=d.action)


if __name__ == "__main__":
    main()
