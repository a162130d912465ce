"""The stoplist: listed entries with reasons, pattern rules, user extensions, file errors."""

from __future__ import annotations

import pytest

from datagraph.errors import ConfigError
from datagraph.stoplist import Stoplist, compact, read_stoplist


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("instagood", "meta"),
        ("#InstaGood", "meta"),
        ("photooftheday", "meta"),
        ("tbt", "meta"),
        ("love", "non_visual"),
        ("likeforlike", "spam"),
        ("like4like", "spam"),
        ("Like_4_Like", "spam"),
        ("like 4 like", "spam"),
        ("follow4follow", "spam"),
        ("likesforlikes", "spam"),
        ("shareforshare", "spam"),
        ("l4l", "spam"),
        ("f4f", "spam"),
        ("teamfollowback", "spam"),
        ("followme", "spam"),
        ("2015", "numeric"),
        ("365", "numeric"),
        ("dog", None),
        ("golden retriever", None),
        ("likeable", None),
        ("followup", None),
        ("lover", None),
    ],
)
def test_default_stoplist(tag, reason):
    assert Stoplist.default().reason(tag) == reason


def test_users_extend_it_with_a_mapping_or_a_file(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text("# my brand tags\nacmecorp\tbrand\nsale\tspam\n", encoding="utf-8")
    stoplist = Stoplist.default()
    assert stoplist.reason("acmecorp") is None
    stoplist.update(read_stoplist(path))
    stoplist.add("#MyEvent2026", "event")
    assert stoplist.reason("AcmeCorp") == "brand"
    assert stoplist.reason("my_event_2026") == "event"
    assert "sale" in stoplist


def test_a_bad_stoplist_file_names_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("dog\tspam\ncat has no tab\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.tsv:2"):
        read_stoplist(path)
    with pytest.raises(ConfigError, match="lower-case word"):
        Stoplist({"dog": "Not A Reason"})


def test_every_listed_entry_is_compact_and_has_a_known_reason():
    entries = Stoplist.default().entries()
    assert len(entries) > 100
    assert set(entries.values()) == {"spam", "meta", "non_visual", "brand", "celebrity"}
    assert all(compact(tag) == tag for tag in entries)


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("gainpost", "spam"),
        ("followtrain", "spam"),
        ("nike", "brand"),
        ("taylorswift", "celebrity"),
    ],
)
def test_growth_schemes_brands_and_celebrities_stop(tag, reason):
    assert Stoplist.default().reason(tag) == reason


@pytest.mark.parametrize("tag", ["trainstation", "posterboy", "birthdayparty", "gain", "apple"])
def test_words_near_the_spam_rules_do_not_stop(tag):
    assert Stoplist.default().reason(tag) is None
