"""Record the demo's sample answers: `python -m tests.demo_answers [--redis-url URL]` rewrites
app/demo/sample_answers.json.

Two scripted "models" answer every request the real pipeline sends for the demo's sample batch (first pass and
the blind second look). Both start from the same hand-made reading of each document (TRUTH) and differ from it on
purpose (MODELS), so the batch shows every class a reviewer meets: agreed items (one of them agreed junk), type
conflicts that stand or settle blind, single-model items the other confirms, disputes or both withdraw, and pairs
nobody proposed that one or both relate when asked. Run it again after changing the prompts, the zh-general preset
or the sample batch; tests/test_demo.py fails until then.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Rel = tuple[str, str, str]  # head name, relation type, tail name

# The documents as a careful reader would annotate them, by title.
TRUTH: dict[str, tuple[dict[str, str], list[Rel]]] = {
    "深圳智言科技完成新一轮融资": (
        {
            "张伟": "PER",
            "深圳智言科技公司": "ORG",
            "北京大学": "ORG",
            "华为技术有限公司": "ORG",
            "深圳市南山区": "LOC",
            "李娜": "PER",
        },
        [
            ("张伟", "毕业于", "北京大学"),
            ("张伟", "任职于", "华为技术有限公司"),
            ("张伟", "创办", "深圳智言科技公司"),
            ("深圳智言科技公司", "位于", "深圳市南山区"),
            ("张伟", "亲属", "李娜"),
            ("李娜", "任职于", "深圳智言科技公司"),
        ],
    ),
    "陈静教授获颁科研奖": (
        {
            "复旦大学": "ORG",
            "陈静": "PER",
            "杭州": "LOC",
            "浙江大学": "ORG",
            "美国": "LOC",
            "斯坦福大学": "ORG",
            "王磊": "PER",
            "上海交通大学": "ORG",
        },
        [
            ("陈静", "任职于", "复旦大学"),
            ("陈静", "出生于", "杭州"),
            ("陈静", "毕业于", "浙江大学"),
            ("陈静", "师生", "王磊"),
            ("王磊", "任职于", "上海交通大学"),
            ("斯坦福大学", "位于", "美国"),
        ],
    ),
    "老街坊的面馆": (
        {"成都市锦江区": "LOC", "刘师傅": "PER", "重庆": "LOC", "刘洋": "PER", "四川大学": "ORG"},
        [("刘师傅", "出生于", "重庆"), ("刘师傅", "亲属", "刘洋"), ("刘洋", "毕业于", "四川大学")],
    ),
    "新能源汽车产业园开工": (
        {"远航汽车集团": "ORG", "合肥市": "LOC", "南京市": "LOC", "赵明": "PER", "江苏扬州": "LOC", "孙丽": "PER"},
        [("远航汽车集团", "位于", "南京市"), ("赵明", "任职于", "远航汽车集团"), ("赵明", "出生于", "江苏扬州")],
    ),
    "校友返校聚会": (
        {"南开大学": "ORG", "周强": "PER", "吴芳": "PER", "中国银行": "ORG", "郑凯": "PER"},
        [
            ("周强", "毕业于", "南开大学"),
            ("吴芳", "毕业于", "南开大学"),
            ("周强", "同事", "吴芳"),
            ("周强", "任职于", "中国银行"),
            ("吴芳", "任职于", "中国银行"),
            ("吴芳", "亲属", "郑凯"),
            ("郑凯", "毕业于", "南开大学"),
        ],
    ),
    "古镇文化节开幕": (
        {
            "乌镇文化节": "EVENT",
            "乌镇": "LOC",
            "浙江省嘉兴市桐乡市": "LOC",
            "乌镇旅游股份有限公司": "ORG",
            "林远": "PER",
            "2024年5月18日": "TIME",
        },
        [
            ("乌镇", "位于", "浙江省嘉兴市桐乡市"),
            ("乌镇旅游股份有限公司", "参与", "乌镇文化节"),
            ("林远", "参与", "乌镇文化节"),
            ("林远", "出生于", "乌镇"),
            ("乌镇文化节", "发生于", "2024年5月18日"),
        ],
    ),
    "医院引进新型设备": (
        {"北京协和医院": "ORG", "何静": "PER", "北京协和医学院": "ORG", "马超": "PER"},
        [
            ("何静", "任职于", "北京协和医院"),
            ("何静", "毕业于", "北京协和医学院"),
            ("何静", "同事", "马超"),
            ("马超", "任职于", "北京协和医院"),
        ],
    ),
    "青年创业者的故事": (
        {"许晨": "PER", "武汉大学": "ORG", "武汉市洪山区": "LOC", "许婷": "PER", "1992年": "TIME"},
        [("许晨", "出生于", "1992年"), ("许晨", "毕业于", "武汉大学"), ("许晨", "亲属", "许婷")],
    ),
}


@dataclass
class Slip:
    """How one model departs from TRUTH on one document."""

    miss_entities: list[str] = field(default_factory=list)
    miss_relations: list[Rel] = field(default_factory=list)
    extra_entities: dict[str, str] = field(default_factory=dict)
    extra_relations: list[Rel] = field(default_factory=list)
    retype: dict[str, str] = field(default_factory=dict)  # first-pass types other than TRUTH's
    hold: set[str] = field(default_factory=set)  # retyped or extra names it still gives when asked blind
    hold_relations: list[Rel] = field(default_factory=list)  # extra relations it still gives blind
    blind_no: list[Rel] = field(default_factory=list)  # true relations it does not give when asked blind


MODELS: dict[str, dict[str, Slip]] = {
    "sample-model-a": {
        # B alone relates 李娜 to the company: A confirms it blind. A's wrong pair, B disputes blind.
        "深圳智言科技完成新一轮融资": Slip(
            miss_relations=[("李娜", "任职于", "深圳智言科技公司")],
            extra_relations=[("张伟", "任职于", "北京大学")],
            hold_relations=[("张伟", "任职于", "北京大学")],
        ),
        # Both miss 王磊's employer; asked blind, both give it: found later and confirmed.
        "陈静教授获颁科研奖": Slip(miss_relations=[("王磊", "任职于", "上海交通大学")]),
        # B alone marks the district; A confirms it blind.
        "老街坊的面馆": Slip(miss_entities=["成都市锦江区"]),
        # A alone calls the park an organisation and holds it; B says it is none: disputed.
        "新能源汽车产业园开工": Slip(extra_entities={"新能源产业园": "ORG"}, hold={"新能源产业园"}),
        # Both mark the junk span 现任中国银行 as an organisation: agreed, and accepted without review.
        "校友返校聚会": Slip(
            extra_entities={"现任中国银行": "ORG"}, hold={"现任中国银行"}, miss_relations=[("吴芳", "亲属", "郑凯")]
        ),
        # A alone relates 马超 to the college; asked blind, neither gives it: withdrawn.
        "医院引进新型设备": Slip(extra_relations=[("马超", "任职于", "北京协和医学院")]),
        # B alone has the birth year; A confirms it blind.
        "青年创业者的故事": Slip(miss_entities=["1992年"], miss_relations=[("许晨", "出生于", "1992年")]),
    },
    "sample-model-b": {
        # B types the district as an organisation first, a place when asked blind: the conflict settles.
        "深圳智言科技完成新一轮融资": Slip(retype={"深圳市南山区": "ORG"}),
        # B holds Stanford for a place: a type conflict that stands.
        "陈静教授获颁科研奖": Slip(
            retype={"斯坦福大学": "LOC"}, hold={"斯坦福大学"}, miss_relations=[("王磊", "任职于", "上海交通大学")]
        ),
        # B alone marks 老街 as a place, and withdraws it blind.
        "老街坊的面馆": Slip(extra_entities={"老街": "LOC"}),
        "校友返校聚会": Slip(
            extra_entities={"现任中国银行": "ORG"},
            hold={"现任中国银行"},
            miss_relations=[("吴芳", "亲属", "郑凯")],
            blind_no=[("吴芳", "亲属", "郑凯")],  # A gives it blind, B does not: found, unconfirmed
        ),
        # A alone has the festival's date; B confirms it blind.
        "古镇文化节开幕": Slip(
            miss_entities=["2024年5月18日"], miss_relations=[("乌镇文化节", "发生于", "2024年5月18日")]
        ),
    },
}


def first_pass(model: str, title: str) -> tuple[dict[str, str], list[Rel]]:
    entities, relations = TRUTH[title]
    slip = MODELS[model].get(title, Slip())
    ents = {n: slip.retype.get(n, t) for n, t in entities.items() if n not in slip.miss_entities}
    ents.update(slip.extra_entities)
    rels = [r for r in relations if r not in slip.miss_relations and r[0] in ents and r[2] in ents]
    return ents, rels + slip.extra_relations


def blind_type(model: str, title: str, name: str) -> str:
    entities, _ = TRUTH[title]
    slip = MODELS[model].get(title, Slip())
    if name in slip.hold:
        return slip.retype.get(name) or slip.extra_entities.get(name, "NONE")
    return entities.get(name, "NONE")


def blind_relations(model: str, title: str) -> list[Rel]:
    _, relations = TRUTH[title]
    slip = MODELS[model].get(title, Slip())
    return [r for r in relations if r not in slip.blind_no] + slip.hold_relations


def evidence(text: str, sentences: list[tuple[int, int]], head: str, tail: str) -> list[int]:
    both = [i for i, (s, e) in enumerate(sentences) if head in text[s:e] and tail in text[s:e]]
    if both:
        return both[:1]
    first = [next((i for i, (s, e) in enumerate(sentences) if n in text[s:e]), 0) for n in (head, tail)]
    return sorted(set(first))


class Answers:
    """The scripted models' answers to whatever the pipeline asks, recorded as they are given."""

    def __init__(self, documents: dict[str, str]) -> None:
        from app.webtext.sentences import split_sentences

        self.documents = documents  # title → text
        self.sentences = {t: [(s, e) for s, e in split_sentences(x)] for t, x in documents.items()}
        self.recorded: dict[str, dict[str, Any]] = {}

    def title_of(self, user: str) -> str:
        shown = re.findall(r"^\[\d+\] (.+)$", user.split("Sentences:\n", 1)[1], re.M)
        return next(t for t, text in self.documents.items() if shown and shown[0] in text)

    def answer(self, model: str, system: str, user: str) -> str:
        title = self.title_of(user)
        text, sentences = self.documents[title], self.sentences[title]
        if "Pairs (head → tails):" in user:
            names = dict(re.findall(r"^(E\d+) (.+)$", user.split("\nEntities:\n")[1].split("\nPairs (head")[0], re.M))
            block = user.split("\nPairs (head → tails):\n")[1].split("\nSentences:")[0]
            asked = [(h, t) for h, tails in re.findall(r"^(E\d+) → (.+)$", block, re.M) for t in tails.split()]
            known = blind_relations(model, title)
            lines = []
            for h, t in asked:
                for head, kind, tail in known:
                    if {head, tail} == {names[h], names[t]} and (head == names[h] or kind in ("亲属", "同事")):
                        ev = " ".join(map(str, evidence(text, sentences, head, tail)))
                        lines.append(f"{h} {kind} {t} {ev}")
            types = {label: blind_type(model, title, name) for label, name in names.items()}
            return json.dumps({"types": types, "relations": lines}, ensure_ascii=False)
        entities, relations = first_pass(model, title)
        ids = {name: f"E{i + 1}" for i, name in enumerate(entities)}
        return json.dumps(
            {
                "entities": [{"id": ids[n], "type": t, "name": n, "mentions": [n]} for n, t in entities.items()],
                "relations": [
                    {"head": ids[h], "tail": ids[t], "type": k, "evidence": evidence(text, sentences, h, t)}
                    for h, k, t in relations
                ],
            },
            ensure_ascii=False,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="the runner's locks and rate limits")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="concord-demo-answers-"))
    os.environ.update(
        CONCORD_DATA_DIR=str(data_dir), REDIS_URL=args.redis_url, REDIS_KEY_PREFIX=f"demo-answers-{uuid.uuid4().hex}:"
    )
    os.environ.pop("DATABASE_URL", None)

    from app import jobs, migrations
    from app.annotation import sample
    from app.annotation.providers import Completion
    from app.annotation.windows import estimate_tokens
    from app.config import get_settings
    from app.db import get_engine
    from app.demo import SAMPLE, create_demo_project

    migrations.upgrade(get_settings().sqlalchemy_url)
    jobs._send = lambda name, ids: None  # run here, in order: nothing goes to a broker
    documents = {d["title"]: d["text"] for d in map(json.loads, SAMPLE.read_text(encoding="utf-8").splitlines())}
    answers = Answers(documents)

    async def complete(self: Any, *, system: str, user: str, **_kwargs: Any) -> Completion:
        text = answers.answer(self.model, system, user)
        tokens_in, tokens_out, latency = estimate_tokens(system + user), estimate_tokens(text), 900 + len(text) // 2
        answers.recorded[sample.answer_key(self.model, system, user)] = {
            "text": text,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "latency_ms": latency,
        }
        return Completion(text, tokens_in, tokens_out, "stop", latency)

    sample.SampleProvider.complete = complete  # type: ignore[method-assign]
    create_demo_project(get_engine())
    sample.ANSWERS.write_text(
        json.dumps(dict(sorted(answers.recorded.items())), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"{len(answers.recorded)} answers written to {sample.ANSWERS.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
