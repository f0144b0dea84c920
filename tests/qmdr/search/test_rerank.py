"""LLM and API reranking: grading, blending, batching, caching and every way it degrades."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import httpx
import pytest
import respx

from providers import Keys, ProviderClient
from providers.errors import ProviderUnavailable
from providers.types import ChatResult, Message
from qmdr.search.llm_call import chat_fn_for
from qmdr.search.rerank import (
    MAX_GRADE,
    PASSAGE_CHAR_LIMIT,
    ApiReranker,
    BlendWeights,
    GradeFormatError,
    LLMReranker,
    RerankFailed,
    blend_order,
    blend_score,
    parse_grades,
)
from tests.qmdr.search.scripted_chat import ScriptedChat


@dataclass
class Result:
    """The fields of ``qmdr.search.searcher.SearchResult`` the reranker reads and writes."""

    path: str
    title: str
    text: str
    chunk_hash: str
    score: float
    heading_trail: tuple[str, ...] = ()
    start_line: int = 1
    end_line: int = 2
    snippet: str = ""
    ranks: dict[str, int | None] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def make_results(n: int) -> list[Result]:
    return [
        Result(
            path=f"note{i}.md",
            title=f"Note {i}",
            text=f"body of passage number {i}",
            chunk_hash=f"h{i}",
            score=1.0 / (60 + i),
            ranks={"fused": i},
            scores={"fused": 1.0 / (60 + i)},
        )
        for i in range(1, n + 1)
    ]


PASSAGE = re.compile(r'<passage id="(\d+)">\n(.*?)\n</passage>', re.DOTALL)


class FakeGrader(ScriptedChat):
    """A chat model that grades each passage by the note number it names, recording every call."""

    model = "grader"

    def __init__(
        self,
        grades: dict[int, int] | None = None,
        default: int = 1,
        answers: list[str] | None = None,
        delay: float = 0.0,
        error: Exception | None = None,
    ):
        super().__init__(delay=delay, error=error)
        self.grades = grades or {}
        self.default = default
        self.answers = list(answers or [])  # scripted raw answers, used before grading

    def answer_to(self, messages: list[Message]) -> str:
        if self.answers:
            return self.answers.pop(0)
        passages = PASSAGE.findall(messages[1].content)
        out = []
        for pid, body in passages:
            number = int(re.search(r"passage number (\d+)", body).group(1))
            out.append({"id": int(pid), "grade": self.grades.get(number, self.default)})
        return json.dumps({"grades": out})

    def passages_sent(self, call: int = 0) -> list[str]:
        return [body for _, body in PASSAGE.findall(self.calls[call][1].content)]


def paths(results: list[Result]) -> list[str]:
    return [r.path for r in results]


# --- parsing ---------------------------------------------------------------------------------------


def test_parse_grades_reads_strict_json_in_passage_order():
    text = json.dumps({"grades": [{"id": 2, "grade": 3}, {"id": 1, "grade": 0}, {"id": 3, "grade": 2}]})
    assert parse_grades(text, 3) == [0, 3, 2]


def test_parse_grades_tolerates_code_fences_and_a_bare_list():
    fenced = '```json\n{"grades": [{"id": 1, "grade": 1}]}\n```'
    assert parse_grades(fenced, 1) == [1]
    assert parse_grades('[{"id": 1, "grade": 2}, {"id": 2, "grade": 0}]', 2) == [2, 0]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("not json at all", "no JSON object"),
        ('{"grades": [{"id": 1, "grade": 2}]}', "no grade for passage(s) 2"),
        ('{"grades": [{"id": 1, "grade": 2}, {"id": 1, "grade": 1}, {"id": 2, "grade": 0}]}', "graded twice"),
        ('{"grades": [{"id": 1, "grade": 2}, {"id": 2, "grade": 0}, {"id": 3, "grade": 0}]}', "only 2"),
        ('{"grades": [{"id": 1, "grade": 7}, {"id": 2, "grade": 0}]}', "grades.0.grade"),
        ('{"scores": [1, 2]}', "grades"),
    ],
)
def test_parse_grades_rejects_answers_that_do_not_grade_each_passage_once(answer, problem):
    with pytest.raises(GradeFormatError, match=re.escape(problem)):
        parse_grades(answer, 2)


# --- blending ----------------------------------------------------------------------------------------


def test_blend_prefers_the_better_grade_at_the_same_rank_and_the_better_rank_at_the_same_grade():
    assert blend_score(1.0, 3) > blend_score(0.5, 3)
    assert blend_score(0.5, 2) > blend_score(0.5, 3)
    assert blend_score(0.0, 1) == pytest.approx(BlendWeights().w_rank)


def test_blend_order_breaks_ties_by_fused_rank():
    weights = BlendWeights(w_llm=1.0, w_rank=0.0)
    assert [i for i, _ in blend_order([0.5, 1.0, 0.5], weights)] == [1, 0, 2]


def test_blend_weights_refuse_nonsense():
    with pytest.raises(ValueError):
        BlendWeights(w_llm=0, w_rank=0)
    with pytest.raises(ValueError):
        BlendWeights(rank_k=-1)


# --- LLMReranker ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_hit_graded_high_moves_up_and_stage_scores_are_kept():
    chat = FakeGrader(grades={5: 3}, default=1)
    outcome = await LLMReranker(chat, model_id="m").rerank("query", make_results(8))
    assert outcome.reranked and outcome.warnings == []
    top = outcome.results[0]
    assert top.path == "note5.md"
    assert top.ranks == {"fused": 5, "rerank": 1}
    assert top.scores["llm"] == pytest.approx(1.0)
    assert top.scores["fused"] == pytest.approx(1 / 65)  # earlier stages kept
    assert top.score == pytest.approx(top.scores["rerank"])
    assert [r.ranks["rerank"] for r in outcome.results] == list(range(1, 9))
    assert chat.json_flags == [True]


@pytest.mark.anyio
async def test_a_top_retrieval_hit_graded_zero_once_stays_on_the_first_page():
    # a realistic spread of grades over 30 candidates, with the fused #1 wrongly graded 0
    grades = {1: 0, 3: 2, 7: 3, 12: 2, 20: 3, 25: 2}
    grades.update({i: 1 for i in (2, 4, 5, 6, 8, 9, 10)})
    chat = FakeGrader(grades=grades, default=0)
    outcome = await LLMReranker(chat, model_id="m").rerank("query", make_results(30))
    order = paths(outcome.results)
    assert outcome.reranked
    assert order.index("note1.md") < 10  # the default k
    # it keeps its place above a deep grade-2 hit and above grade-1 hits below fused rank 3
    assert order.index("note1.md") < order.index("note25.md")
    assert order.index("note1.md") < min(order.index(f"note{i}.md") for i in (4, 5, 6, 8, 9, 10))
    assert order[0] == "note7.md"  # the best-graded near hit leads


@pytest.mark.anyio
async def test_thirty_candidates_are_graded_in_one_call_with_truncated_numbered_passages():
    results = make_results(30)
    results[0].text = "body of passage number 1 " + "long " * 1000
    chat = FakeGrader()
    outcome = await LLMReranker(chat, model_id="m").rerank("query", results)
    assert outcome.calls == 1 and len(chat.calls) == 1
    sent = chat.passages_sent()
    assert len(sent) == 30
    assert sent[1].startswith("Note 2\nbody of passage number 2")  # title, then text
    assert len(sent[0]) <= PASSAGE_CHAR_LIMIT and sent[0].endswith("…")
    assert "Query: query" in chat.calls[0][1].content


@pytest.mark.anyio
async def test_repeating_a_query_costs_no_calls_and_only_new_candidates_are_sent():
    chat = FakeGrader(grades={4: 3})
    reranker = LLMReranker(chat, model_id="m")
    first = await reranker.rerank("query", make_results(10))
    second = await reranker.rerank("query", make_results(10))
    assert len(chat.calls) == 1 and second.calls == 0
    assert second.reranked and paths(second.results) == paths(first.results)

    await reranker.rerank("query", make_results(11))  # one new candidate
    assert len(chat.calls) == 2 and len(chat.passages_sent(1)) == 1

    await reranker.rerank("another query", make_results(10))  # cache is per query
    assert len(chat.calls) == 3


@pytest.mark.anyio
async def test_the_cache_is_per_rerank_model():
    chat = FakeGrader()
    await LLMReranker(chat, model_id="a").rerank("q", make_results(3))
    other = LLMReranker(chat, model_id="b")
    await other.rerank("q", make_results(3))
    await other.rerank("q", make_results(3))
    assert len(chat.calls) == 2


@pytest.mark.anyio
async def test_malformed_answers_are_retried_once_then_results_come_back_fused():
    chat = FakeGrader(answers=["Sure! Here are the grades: 1=2, 2=0", '{"grades": [{"id": 1, "grade": 2}]}'])
    results = make_results(4)
    outcome = await LLMReranker(chat, model_id="m").rerank("query", results)
    assert len(chat.calls) == 2 and outcome.calls == 2
    assert not outcome.reranked
    assert len(outcome.warnings) == 1 and "malformed" in outcome.warnings[0]
    assert outcome.results == results  # unchanged, fused order, no rerank stage recorded
    assert all("rerank" not in r.ranks for r in outcome.results)


@pytest.mark.anyio
async def test_the_retry_shows_the_model_its_bad_answer_and_a_good_retry_is_used():
    chat = FakeGrader(answers=["oops"], grades={3: 3})
    outcome = await LLMReranker(chat, model_id="m").rerank("query", make_results(3))
    assert outcome.reranked and paths(outcome.results)[0] == "note3.md"
    retry = chat.calls[1]
    assert [m.role for m in retry] == ["system", "user", "assistant", "user"]
    assert retry[2].content == "oops" and "no JSON object" in retry[3].content


@pytest.mark.anyio
async def test_a_slow_model_is_abandoned_at_the_time_budget():
    chat = FakeGrader(delay=30)
    results = make_results(5)
    outcome = await LLMReranker(chat, model_id="m", time_budget_s=0.05).rerank("query", results)
    assert not outcome.reranked
    assert outcome.results == results
    assert "did not answer within 0.05s" in outcome.warnings[0]


@pytest.mark.anyio
async def test_a_provider_error_degrades_to_fused_results_with_its_message():
    chat = FakeGrader(error=ProviderUnavailable("openrouter is unavailable (503)", status=503))
    results = make_results(5)
    outcome = await LLMReranker(chat, model_id="m").rerank("query", results)
    assert not outcome.reranked and outcome.results == results
    assert "openrouter is unavailable (503)" in outcome.warnings[0]


@pytest.mark.anyio
async def test_an_unexpected_error_never_escapes_rerank():
    chat = FakeGrader(error=KeyError("boom"))
    outcome = await LLMReranker(chat, model_id="m").rerank("query", make_results(2))
    assert not outcome.reranked and "KeyError" in outcome.warnings[0]


@pytest.mark.anyio
async def test_candidates_beyond_top_n_follow_in_fused_order():
    chat = FakeGrader(grades={3: 3}, default=0)
    results = make_results(8)
    outcome = await LLMReranker(chat, model_id="m", top_n=3).rerank("query", results)
    assert len(chat.passages_sent()) == 3
    assert paths(outcome.results)[:3] == ["note3.md", "note1.md", "note2.md"]
    assert paths(outcome.results)[3:] == [f"note{i}.md" for i in range(4, 9)]
    assert all(r.ranks["rerank"] is None and "llm" not in r.scores for r in outcome.results[3:])
    assert all("rerank" not in r.ranks for r in results)  # inputs are not mutated


@pytest.mark.anyio
async def test_smaller_batches_run_concurrently_and_keep_grades_with_their_passages():
    chat = FakeGrader(grades={10: 3, 2: 2}, default=0)
    outcome = await LLMReranker(chat, model_id="m", batch_size=4).rerank("query", make_results(10))
    assert len(chat.calls) == 3
    assert paths(outcome.results)[:2] == ["note2.md", "note10.md"]
    assert outcome.results[1].scores["llm"] == pytest.approx(1.0)


@pytest.mark.anyio
async def test_nothing_to_rerank_makes_no_call():
    chat = FakeGrader()
    outcome = await LLMReranker(chat, model_id="m").rerank("query", [])
    assert outcome.results == [] and not outcome.reranked and chat.calls == []


@pytest.mark.anyio
async def test_grade_seam_returns_normalised_grades_and_raises_when_unusable():
    chat = FakeGrader(grades={1: 3, 2: 0})
    reranker = LLMReranker(chat, model_id="m")
    grades = await reranker.grade("q", ["body of passage number 1", "body of passage number 2"])
    assert grades == [pytest.approx(3 / MAX_GRADE), 0.0]
    broken = LLMReranker(FakeGrader(answers=["x", "y"]), model_id="m")
    with pytest.raises(RerankFailed):
        await broken.grade("q", ["body of passage number 1"])


# --- ApiReranker ------------------------------------------------------------------------------------

COHERE = "https://api.cohere.com/v2"


@pytest.mark.anyio
@respx.mock
async def test_api_reranker_sends_a_cohere_style_request_and_blends_its_scores():
    route = respx.post(f"{COHERE}/rerank").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "x",
                "results": [
                    {"index": 2, "relevance_score": 0.98},
                    {"index": 0, "relevance_score": 0.2},
                    {"index": 1, "relevance_score": 0.01},
                ],
            },
        )
    )
    async with httpx.AsyncClient() as client:
        reranker = ApiReranker(client, base_url=COHERE, model="rerank-v3.5", api_key="sk-test", provider="cohere")
        outcome = await reranker.rerank("what is x", make_results(3))
        again = await reranker.rerank("what is x", make_results(3))
    assert route.call_count == 1 and again.calls == 0
    request = route.calls[0].request
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body["model"] == "rerank-v3.5" and body["query"] == "what is x" and body["top_n"] == 3
    assert body["documents"][0] == "Note 1\nbody of passage number 1"
    assert outcome.reranked and paths(outcome.results)[0] == "note3.md"
    assert outcome.results[0].scores["llm"] == pytest.approx(0.98)


@pytest.mark.anyio
@respx.mock
async def test_api_reranker_reads_voyage_data_and_scores_left_out_documents_zero():
    route = respx.post("https://api.voyageai.com/v1/rerank").mock(
        return_value=httpx.Response(
            200,
            json={
                "object": "list",
                "data": [{"index": 1, "relevance_score": 0.9}],
            },
        )
    )
    async with httpx.AsyncClient() as client:
        reranker = ApiReranker(
            client,
            base_url="https://api.voyageai.com/v1/",
            model="rerank-2",
            api_key="k",
            provider="voyage",
            top_n_field="top_k",
        )
        outcome = await reranker.rerank("q", make_results(2))
    assert json.loads(route.calls[0].request.content)["top_k"] == 2
    assert paths(outcome.results) == ["note2.md", "note1.md"]
    assert outcome.results[1].scores["llm"] == 0.0


@pytest.mark.anyio
@respx.mock
@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(503, json={"message": "overloaded"}), "unavailable (503)"),
        (httpx.Response(401, json={"message": "invalid api token"}), "rejected the credentials"),
        (httpx.Response(200, json={"results": [{"index": 9, "relevance_score": 0.5}]}), "ranked document 9"),
        (httpx.Response(200, text="<html>"), "not valid JSON"),
    ],
)
async def test_api_reranker_degrades_on_errors_without_leaking_the_key(response, expected):
    respx.post(f"{COHERE}/rerank").mock(return_value=response)
    results = make_results(2)
    async with httpx.AsyncClient() as client:
        reranker = ApiReranker(client, base_url=COHERE, model="rerank-v3.5", api_key="sk-secret", provider="cohere")
        outcome = await reranker.rerank("q", results)
    assert not outcome.reranked and outcome.results == results
    assert expected in outcome.warnings[0] and "sk-secret" not in outcome.warnings[0]


@pytest.mark.anyio
@respx.mock
async def test_api_reranker_timeout_degrades():
    respx.post(f"{COHERE}/rerank").mock(side_effect=httpx.ReadTimeout("slow"))
    async with httpx.AsyncClient() as client:
        outcome = await ApiReranker(client, base_url=COHERE, model="m", provider="cohere").rerank("q", make_results(2))
    assert not outcome.reranked and "did not answer in time" in outcome.warnings[0]


# --- through the real ProviderClient to OpenRouter (faked at the HTTP boundary) ------------------------

OPENROUTER_CHAT = "https://openrouter.ai/api/v1/chat/completions"
OPENROUTER_KEY = "sk-or-v1-test-key"


def openrouter_answer(content: str) -> httpx.Response:
    """An OpenRouter chat completion in the OpenAI shape it documents."""
    return httpx.Response(
        200,
        json={
            "id": "gen-1",
            "object": "chat.completion",
            "model": "openai/gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940},
        },
    )


async def _no_sleep(_: float) -> None:
    return None


def openrouter_reranker(http: httpx.AsyncClient, **kwargs) -> LLMReranker:
    client = ProviderClient(Keys(env={"OPENROUTER_API_KEY": OPENROUTER_KEY}), http=http, sleep=_no_sleep)
    model = "openrouter/openai/gpt-4o-mini"
    return LLMReranker(chat_fn_for(client, model), model_id=model, **kwargs)


@pytest.mark.anyio
@respx.mock
async def test_openrouter_rerank_request_is_what_openrouter_expects():
    answer = json.dumps({"grades": [{"id": 1, "grade": 0}, {"id": 2, "grade": 3}, {"id": 3, "grade": 1}]})
    route = respx.post(OPENROUTER_CHAT).mock(return_value=openrouter_answer(answer))
    async with httpx.AsyncClient() as http:
        outcome = await openrouter_reranker(http).rerank("how do I rotate keys", make_results(3))
    assert route.call_count == 1
    request = route.calls[0].request
    assert request.headers["authorization"] == f"Bearer {OPENROUTER_KEY}"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body["model"] == "openai/gpt-4o-mini"
    # structured output in OpenAI's documented shape: ids and grades are enums, every field required
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "passage_grades",
            "strict": True,
            "schema": {
                "type": "object",
                "required": ["grades"],
                "additionalProperties": False,
                "properties": {
                    "grades": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "grade"],
                            "additionalProperties": False,
                            "properties": {
                                "id": {"type": "integer", "enum": [1, 2, 3]},
                                "grade": {"type": "integer", "enum": [0, 1, 2, 3]},
                            },
                        },
                    }
                },
            },
        },
    }
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert '"grades"' in body["messages"][0]["content"]
    assert body["messages"][1]["content"].startswith("Query: how do I rotate keys")
    assert "reasoning" not in body  # no thinking requested: the model's default, no extra field
    assert outcome.reranked and paths(outcome.results)[0] == "note2.md"


@pytest.mark.anyio
@respx.mock
async def test_openrouter_answer_off_the_schema_gets_one_repair_request_then_degrades_with_a_warning():
    route = respx.post(OPENROUTER_CHAT).mock(return_value=openrouter_answer("Passage 1 is relevant."))
    results = make_results(3)
    async with httpx.AsyncClient() as http:
        outcome = await openrouter_reranker(http).rerank("q", results)
    assert route.call_count == 2 and outcome.calls == 2
    assert not outcome.reranked and outcome.results == results
    assert outcome.warnings[0].startswith("rerank skipped:") and "matching the schema" in outcome.warnings[0]
    retry = json.loads(route.calls[1].request.content)
    assert retry["messages"][2] == {"role": "assistant", "content": "Passage 1 is relevant."}
    assert retry["response_format"]["type"] == "json_schema"  # the repair is held to the schema too


@pytest.mark.anyio
@respx.mock
async def test_openrouter_repaired_structured_answer_is_used():
    good = json.dumps({"grades": [{"id": 1, "grade": 0}, {"id": 2, "grade": 3}]})
    route = respx.post(OPENROUTER_CHAT).mock(
        side_effect=[openrouter_answer('{"grades": [{"id": 1, "grade": 9}]}'), openrouter_answer(good)]
    )
    async with httpx.AsyncClient() as http:
        outcome = await openrouter_reranker(http).rerank("q", make_results(2))
    assert route.call_count == 2 and outcome.calls == 2
    assert outcome.reranked and paths(outcome.results) == ["note2.md", "note1.md"] and outcome.warnings == []


@pytest.mark.anyio
@respx.mock
async def test_a_structured_answer_missing_a_passage_is_retried_by_the_reranker():
    partial = json.dumps({"grades": [{"id": 1, "grade": 1}]})  # matches the schema, but passage 2 is ungraded
    full = json.dumps({"grades": [{"id": 1, "grade": 0}, {"id": 2, "grade": 3}]})
    route = respx.post(OPENROUTER_CHAT).mock(side_effect=[openrouter_answer(partial), openrouter_answer(full)])
    async with httpx.AsyncClient() as http:
        outcome = await openrouter_reranker(http).rerank("q", make_results(2))
    assert route.call_count == 2 and outcome.reranked and paths(outcome.results)[0] == "note2.md"
    retry = json.loads(route.calls[1].request.content)["messages"]
    assert "no grade for passage(s) 2" in retry[-1]["content"]


@pytest.mark.anyio
async def test_the_validated_parsed_value_is_read_not_the_text():
    async def structured_only(messages, *, json_output, timeout, response_format=None):
        assert response_format["json_schema"]["name"] == "passage_grades"
        return ChatResult(
            text="(answer given as a forced tool call)",
            provider="anthropic",
            model="claude",
            parsed={"grades": [{"id": 1, "grade": 0}, {"id": 2, "grade": 3}]},
        )

    outcome = await LLMReranker(structured_only, model_id="m").rerank("q", make_results(2))
    assert outcome.reranked and paths(outcome.results) == ["note2.md", "note1.md"]


#: OpenAI's error for a model without json_schema (the shape of its documented error object)
SCHEMA_REFUSED = {
    "error": {
        "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
}


@pytest.mark.anyio
@respx.mock
async def test_a_server_without_json_schema_falls_back_to_free_text_and_says_so_once():
    fenced = '```json\n{"grades": [{"id": 1, "grade": 0}, {"id": 2, "grade": 3}]}\n```'
    route = respx.post(OPENROUTER_CHAT).mock(
        side_effect=[httpx.Response(400, json=SCHEMA_REFUSED), openrouter_answer(fenced), openrouter_answer(fenced)]
    )
    async with httpx.AsyncClient() as http:
        reranker = openrouter_reranker(http)
        first = await reranker.rerank("q", make_results(2))
        second = await reranker.rerank("another query", make_results(2))
    bodies = [json.loads(c.request.content) for c in route.calls]
    assert [b["response_format"]["type"] for b in bodies] == ["json_schema", "json_object", "json_object"]
    assert first.reranked and paths(first.results)[0] == "note2.md" and first.calls == 2
    assert len(first.warnings) == 1 and "free text" in first.warnings[0]
    assert "cannot answer to a JSON schema" in first.warnings[0]
    assert second.reranked and second.warnings == [] and second.calls == 1 and not reranker.structured


@pytest.mark.anyio
@respx.mock
async def test_openrouter_rejected_key_degrades_without_echoing_it():
    respx.post(OPENROUTER_CHAT).mock(
        return_value=httpx.Response(401, json={"error": {"message": "No auth credentials found", "code": 401}})
    )
    results = make_results(2)
    async with httpx.AsyncClient() as http:
        outcome = await openrouter_reranker(http).rerank("q", results)
    assert not outcome.reranked and outcome.results == results
    assert "rejected the credentials" in outcome.warnings[0]
    assert OPENROUTER_KEY not in outcome.warnings[0]


@pytest.mark.anyio
@respx.mock
async def test_anthropic_grades_arrive_as_the_forced_tool_input_and_are_used():
    route = respx.post("https://api.anthropic.com/v1/messages").respond(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "passage_grades",
                    "input": {"grades": [{"id": 1, "grade": 1}, {"id": 2, "grade": 3}]},
                }
            ],
            "usage": {"input_tokens": 700, "output_tokens": 40},
        },
    )
    async with httpx.AsyncClient() as http:
        client = ProviderClient(Keys(env={"ANTHROPIC_API_KEY": "sk-ant-rerank-0123456789"}), http=http, sleep=_no_sleep)
        model = "anthropic/claude-haiku-4-5"
        outcome = await LLMReranker(chat_fn_for(client, model), model_id=model).rerank("q", make_results(2))
    body = json.loads(route.calls.last.request.content)
    assert [t["name"] for t in body["tools"]] == ["passage_grades"]
    assert body["tools"][0]["input_schema"]["properties"]["grades"]["items"]["required"] == ["id", "grade"]
    assert body["tool_choice"] == {"type": "tool", "name": "passage_grades"}
    assert outcome.reranked and paths(outcome.results) == ["note2.md", "note1.md"] and outcome.calls == 1


@pytest.mark.anyio
@respx.mock
async def test_a_server_that_ignores_the_schema_but_grades_in_prose_is_still_read():
    # the server answers 200 to json_schema but wraps its JSON in prose (both times): the lenient parser reads it
    prose = 'Here are the grades: {"grades": [{"id": 1, "grade": 0}, {"id": 2, "grade": 3}]} Hope this helps.'
    route = respx.post(OPENROUTER_CHAT).mock(return_value=openrouter_answer(prose))
    async with httpx.AsyncClient() as http:
        outcome = await openrouter_reranker(http).rerank("q", make_results(2))
    assert route.call_count == 2 and outcome.calls == 2  # the one repair request, nothing more
    assert outcome.reranked and paths(outcome.results) == ["note2.md", "note1.md"]
    assert any("ignored the JSON schema" in w for w in outcome.warnings)
