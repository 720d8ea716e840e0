"""Label schema presets: a general Chinese web scheme, the source research's person relations, DocRED."""

from typing import Any

_PALETTE = ["#2f6fde", "#d9480f", "#2b8a3e", "#9c36b5", "#c92a2a", "#1098ad", "#e67700", "#5c7cfa"]


def _et(code: str, name: str, color: str, description: str) -> dict[str, Any]:
    return {"code": code, "name": name, "color": color, "description": description}


def _rt(
    code: str, name: str, description: str, head: list[str], tail: list[str], symmetric: bool = False
) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "description": description,
        "head_types": head,
        "tail_types": tail,
        "symmetric": symmetric,
    }


ZH_GENERAL: dict[str, Any] = {
    "entity_types": [
        _et("PER", "人物", _PALETTE[0], "真实或虚构的人，含姓名、昵称、笔名。"),
        _et("ORG", "组织机构", _PALETTE[1], "公司、学校、政府部门、团体、球队等。"),
        _et("LOC", "地点", _PALETTE[2], "国家、省市、地区、地标、自然地理实体。"),
        _et("TIME", "时间", _PALETTE[3], "日期、年份、时间段等明确的时间表达。"),
        _et("EVENT", "事件", _PALETTE[4], "会议、比赛、战争、节日等有名称的事件。"),
        _et("PRODUCT", "产品", _PALETTE[5], "商品、软件、车型、药品等。"),
        _et("WORK", "作品", _PALETTE[6], "书籍、影视、歌曲、论文等创作作品。"),
        _et("MISC", "其他", _PALETTE[7], "其他值得标注的专名（奖项、法律、语言等）。"),
    ],
    "relation_types": [
        _rt("任职于", "任职于", "人物在某组织机构担任职务或工作。", ["PER"], ["ORG"]),
        _rt("毕业于", "毕业于", "人物从某学校或机构毕业。", ["PER"], ["ORG"]),
        _rt("创办", "创办", "人物或组织创立了某组织或产品。", ["PER", "ORG"], ["ORG", "PRODUCT"]),
        _rt("位于", "位于", "组织、地点或事件位于某地点。", ["ORG", "LOC", "EVENT"], ["LOC"]),
        _rt("出生于", "出生于", "人物的出生地点或出生时间。", ["PER"], ["LOC", "TIME"]),
        _rt("国籍", "国籍", "人物的国籍。", ["PER"], ["LOC"]),
        _rt("亲属", "亲属", "人物之间的亲属关系（父母、子女、配偶、兄弟姐妹等）。", ["PER"], ["PER"], True),
        _rt("同事", "同事", "在同一机构共事的人物。", ["PER"], ["PER"], True),
        _rt("师生", "师生", "头实体是老师，尾实体是学生。", ["PER"], ["PER"]),
        _rt("隶属于", "隶属于", "组织是另一组织的下属或组成部分。", ["ORG"], ["ORG"]),
        _rt("参与", "参与", "人物或组织参与了某事件。", ["PER", "ORG"], ["EVENT"]),
        _rt("发生于", "发生于", "事件发生的地点或时间。", ["EVENT"], ["LOC", "TIME"]),
        _rt("作者", "作者", "作品的作者、导演或创作者。", ["WORK"], ["PER", "ORG"]),
        _rt("生产", "生产", "组织生产或发布某产品。", ["ORG"], ["PRODUCT"]),
    ],
}
ZH_GENERAL_GUIDELINES = """\
# 标注指南（zh-general）
- 实体是文档级的：同一对象的所有提及（全称、简称、代词除外）归为一个实体。
- 只标注文本中实际出现的字符串，不要改写或补全。
- 关系是文档级的：头尾实体可以在不同句子中，证据句列出支持该关系所需的全部句子编号。
- 有方向的关系按定义中的头、尾方向标注；对称关系（亲属、同事）方向不限。
"""

PERSON_RELATIONS: dict[str, Any] = {
    "entity_types": [_et("PER", "人物", _PALETTE[0], "文中出现的人物。")],
    "relation_types": [
        _rt("亲属", "亲属", "家庭成员或姻亲关系。", ["PER"], ["PER"], True),
        _rt("师生", "师生", "教学、指导关系：头实体是老师，尾实体是学生。", ["PER"], ["PER"]),
        _rt("同事", "同事", "在同一单位或团队共事。", ["PER"], ["PER"], True),
        _rt("其他", "其他", "文中明确存在、但不属于以上三类的人物关系（朋友、对手等）。", ["PER"], ["PER"], True),
    ],
}
PERSON_RELATIONS_GUIDELINES = """\
# 人物关系标注指南（person-relations）
四类人物关系：亲属、师生、同事、其他。只有文本支持时才标注；没有关系的人物对不标注。
"""

# DocRED (Yao et al., 2019): six entity types and the 96 Wikidata relations of rel_info.json.
_DOCRED_RELATIONS = {
    "P6": "head of government",
    "P17": "country",
    "P19": "place of birth",
    "P20": "place of death",
    "P22": "father",
    "P25": "mother",
    "P26": "spouse",
    "P27": "country of citizenship",
    "P30": "continent",
    "P31": "instance of",
    "P35": "head of state",
    "P36": "capital",
    "P37": "official language",
    "P39": "position held",
    "P40": "child",
    "P50": "author",
    "P54": "member of sports team",
    "P57": "director",
    "P58": "screenwriter",
    "P69": "educated at",
    "P86": "composer",
    "P102": "member of political party",
    "P108": "employer",
    "P112": "founded by",
    "P118": "league",
    "P123": "publisher",
    "P127": "owned by",
    "P131": "located in the administrative territorial entity",
    "P136": "genre",
    "P137": "operator",
    "P140": "religion",
    "P150": "contains administrative territorial entity",
    "P155": "follows",
    "P156": "followed by",
    "P159": "headquarters location",
    "P161": "cast member",
    "P162": "producer",
    "P166": "award received",
    "P170": "creator",
    "P171": "parent taxon",
    "P172": "ethnic group",
    "P175": "performer",
    "P176": "manufacturer",
    "P178": "developer",
    "P179": "series",
    "P190": "sister city",
    "P194": "legislative body",
    "P205": "basin country",
    "P206": "located in or next to body of water",
    "P241": "military branch",
    "P264": "record label",
    "P272": "production company",
    "P276": "location",
    "P279": "subclass of",
    "P355": "subsidiary",
    "P361": "part of",
    "P364": "original language of work",
    "P400": "platform",
    "P403": "mouth of the watercourse",
    "P449": "original network",
    "P463": "member of",
    "P488": "chairperson",
    "P495": "country of origin",
    "P527": "has part",
    "P551": "residence",
    "P569": "date of birth",
    "P570": "date of death",
    "P571": "inception",
    "P576": "dissolved, abolished or demolished",
    "P577": "publication date",
    "P580": "start time",
    "P582": "end time",
    "P585": "point in time",
    "P607": "conflict",
    "P674": "characters",
    "P676": "lyrics by",
    "P706": "located on terrain feature",
    "P710": "participant",
    "P737": "influenced by",
    "P740": "location of formation",
    "P749": "parent organization",
    "P800": "notable work",
    "P807": "separated from",
    "P840": "narrative location",
    "P937": "work location",
    "P1001": "applies to jurisdiction",
    "P1056": "product or material produced",
    "P1198": "unemployment rate",
    "P1336": "territory claimed by",
    "P1344": "participant of",
    "P1365": "replaces",
    "P1366": "replaced by",
    "P1376": "capital of",
    "P1412": "languages spoken, written or signed",
    "P1441": "present in work",
    "P3373": "sibling",
}
_DOCRED_SYMMETRIC = {"P26", "P190", "P3373"}

DOCRED: dict[str, Any] = {
    "entity_types": [
        _et("PER", "Person", _PALETTE[0], "People, including fictional."),
        _et(
            "ORG", "Organization", _PALETTE[1], "Companies, universities, institutions, political or religious groups."
        ),
        _et("LOC", "Location", _PALETTE[2], "Geographically defined locations: mountains, waters, countries, cities."),
        _et("TIME", "Time", _PALETTE[3], "Absolute or relative dates or periods."),
        _et("NUM", "Number", _PALETTE[6], "Percents, money, quantities."),
        _et("MISC", "Miscellaneous", _PALETTE[7], "Events, nationalities, products, works of art and the like."),
    ],
    "relation_types": [
        _rt(code, name, f"Wikidata {code}: {name}.", [], [], code in _DOCRED_SYMMETRIC)
        for code, name in _DOCRED_RELATIONS.items()
    ],
}
DOCRED_GUIDELINES = """\
# DocRED guidelines
Entities are clusters of mentions; relations hold between entities at the document level, with the sentences
that support them as evidence. Relation codes are Wikidata properties (P-codes).
"""

PRESETS: dict[str, tuple[str, dict[str, Any], str]] = {
    "zh-general": ("通用中文网页（人物、组织、地点、时间等）", ZH_GENERAL, ZH_GENERAL_GUIDELINES),
    "person-relations": ("人物关系四分类（亲属 / 师生 / 同事 / 其他）", PERSON_RELATIONS, PERSON_RELATIONS_GUIDELINES),
    "docred": ("DocRED: 6 entity types, 96 Wikidata relations", DOCRED, DOCRED_GUIDELINES),
}
