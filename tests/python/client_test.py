"""A Python gRPC client against a running leadqual server: stubs generated
from proto/ at test time (grpcio-tools), then QualifyLead, GetLead and a
QualifyLeads stream as a Python integration would call them.

Run by scripts/python-client, which starts the server; on its own:
    LEADQUAL_ADDR=127.0.0.1:50051 LEADQUAL_KEY=lq_... python3 tests/python/client_test.py
"""

import glob
import os
import subprocess
import sys
import tempfile
import unittest

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(ROOT, "proto")
ADDR = os.environ.get("LEADQUAL_ADDR", "127.0.0.1:50051")
KEY = os.environ.get("LEADQUAL_KEY", "")
TIMEOUT = 10  # seconds per call

pb = error_details_pb2 = status_pb2 = stubs = None


def generate_stubs(out):
    """Python modules for our protos (and google/rpc's, which they import);
    grpc_tools bundles the google/protobuf well-known types."""
    sources = sorted(glob.glob(os.path.join(PROTO, "leadqual", "v1", "*.proto")))
    sources += sorted(glob.glob(os.path.join(PROTO, "google", "rpc", "*.proto")))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}",
         f"--python_out={out}", f"--grpc_python_out={out}",
         *[os.path.relpath(s, PROTO) for s in sources]],
        check=True, cwd=PROTO)


def setUpModule():
    global pb, error_details_pb2, status_pb2, stubs
    out = tempfile.mkdtemp(prefix="leadqual-py-")
    generate_stubs(out)
    sys.path.insert(0, out)
    # google is a namespace package: google.protobuf comes from the
    # installed protobuf, google.rpc from the generated modules.
    from google.rpc import error_details_pb2 as details, status_pb2 as status
    from leadqual.v1 import qualification_service_pb2 as service
    from leadqual.v1 import qualification_service_pb2_grpc as service_grpc
    from leadqual.v1 import lead_pb2, verdict_pb2
    pb = type("pb", (), {})
    for module in (service, lead_pb2, verdict_pb2):
        for name in dir(module):
            if not name.startswith("_"):
                setattr(pb, name, getattr(module, name))
    error_details_pb2, status_pb2, stubs = details, status, service_grpc


class Client(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(ADDR)
        grpc.channel_ready_future(cls.channel).result(timeout=TIMEOUT)
        cls.client = stubs.LeadQualificationServiceStub(cls.channel)
        cls.metadata = [("authorization", f"Bearer {KEY}")] if KEY else []

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def call(self, method, request):
        return method(request, metadata=self.metadata, timeout=TIMEOUT)

    def test_qualify_then_read_back(self):
        facts = pb.LeadFacts(employee_count=140, vertical="logistics", country="DE",
                             questions_asked=12, questions_answered=10)
        answer = self.call(self.client.QualifyLead, pb.QualifyLeadRequest(
            lead_id="py-acme", stage=pb.STAGE_CONTACT, facts=facts,
            request_id="py-sync-1"))
        verdict = answer.verdict
        self.assertTrue(verdict.verdict_id)
        self.assertEqual(verdict.lead_id, "py-acme")
        self.assertEqual(verdict.stage, pb.STAGE_CONTACT)
        self.assertIn(verdict.outcome, (pb.OUTCOME_QUALIFIED, pb.OUTCOME_NEEDS_REVIEW,
                                        pb.OUTCOME_DISQUALIFIED))
        self.assertEqual(len(verdict.signals), 21)
        self.assertEqual(answer.merged_facts, facts)
        self.assertFalse(answer.replayed)

        lead = self.call(self.client.GetLead, pb.GetLeadRequest(lead_id="py-acme")).lead
        self.assertEqual(lead.lead_id, "py-acme")
        self.assertEqual(lead.stage, pb.STAGE_CONTACT)
        self.assertEqual(lead.facts, facts)
        self.assertEqual(lead.latest_verdict, verdict)
        self.assertEqual(lead.effective_outcome, verdict.outcome)

        again = self.call(self.client.QualifyLead, pb.QualifyLeadRequest(
            lead_id="py-acme", facts=pb.LeadFacts(employee_count=5),
            request_id="py-sync-1"))
        self.assertTrue(again.replayed)
        self.assertEqual(again.verdict, verdict)

    def test_errors_carry_codes_and_field_violations(self):
        with self.assertRaises(grpc.RpcError) as missing:
            self.call(self.client.GetLead, pb.GetLeadRequest(lead_id="py-nobody"))
        self.assertEqual(missing.exception.code(), grpc.StatusCode.NOT_FOUND)

        with self.assertRaises(grpc.RpcError) as invalid:
            self.call(self.client.QualifyLead, pb.QualifyLeadRequest(
                lead_id="", stage=pb.STAGE_CONTACT))
        self.assertEqual(invalid.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        details = dict(invalid.exception.trailing_metadata())["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(details)
        self.assertEqual(status.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(self.violated_fields(status), ["lead_id"])

    def test_qualify_leads_stream_answers_each_item(self):
        items = [
            pb.QualifyLeadsRequest(correlation_id="row-1", request=pb.QualifyLeadRequest(
                lead_id="py-batch-1", stage=pb.STAGE_IDENTIFICATION)),
            pb.QualifyLeadsRequest(correlation_id="row-2", request=pb.QualifyLeadRequest(
                lead_id="", stage=pb.STAGE_IDENTIFICATION)),
            pb.QualifyLeadsRequest(correlation_id="row-3", request=pb.QualifyLeadRequest(
                lead_id="py-batch-3", stage=pb.STAGE_RECOMMENDATION,
                facts=pb.LeadFacts(max_material_repeats=4, meetings_cancelled=2,
                                   meetings_rescheduled=1))),
        ]
        results = {r.correlation_id: r for r in
                   self.call(self.client.QualifyLeads, iter(items))}
        self.assertEqual(sorted(results), ["row-1", "row-2", "row-3"])

        for row, lead_id, outcome in [("row-1", "py-batch-1", pb.OUTCOME_QUALIFIED),
                                      ("row-3", "py-batch-3", pb.OUTCOME_NEEDS_REVIEW)]:
            result = results[row]
            self.assertEqual(result.WhichOneof("result"), "qualified", row)
            verdict = result.qualified.verdict
            self.assertEqual((verdict.lead_id, verdict.outcome), (lead_id, outcome), row)
            stored = self.call(self.client.GetLead, pb.GetLeadRequest(lead_id=lead_id)).lead
            self.assertEqual(stored.latest_verdict, verdict, row)

        bad = results["row-2"]
        self.assertEqual(bad.WhichOneof("result"), "error")
        self.assertEqual(bad.error.code, 3)  # INVALID_ARGUMENT
        self.assertEqual(self.violated_fields(bad.error), ["lead_id"])

    @staticmethod
    def violated_fields(status):
        fields = []
        for detail in status.details:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                fields += [v.field for v in bad_request.field_violations]
        return sorted(fields)


if __name__ == "__main__":
    unittest.main(verbosity=2)
