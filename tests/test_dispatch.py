"""A full build hands its documents to the pandoc processes as each is ready for more (pandoc_adapter.Dispatcher)."""

from __future__ import annotations

from pipeline.pandoc_adapter import AHEAD, TAIL_GROUP, Dispatcher


class _Process:
    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


class FakePandoc:
    """What the dispatcher sees of a pandoc process: what it was sent, whether it runs, whether it was closed."""

    def __init__(self) -> None:
        self.process = _Process()
        self.load = 0
        self.sent: list[tuple[int, int | None]] = []
        self.closed = 0

    def send(self, index: int, size: int, group: int | None = None, **options: bool) -> None:
        self.load += size
        self.sent.append((index, group))

    def close(self) -> None:
        self.closed += 1

    def handed(self) -> list[int]:
        return [index for index, _ in self.sent]


def test_a_process_has_at_most_a_few_documents_waiting_and_the_faster_one_takes_more():
    fast, slow = FakePandoc(), FakePandoc()
    dispatch = Dispatcher([fast, slow], total=200)
    for index in range(20):
        dispatch.add(index, 1000)
    assert len(fast.sent) == len(slow.sent) == AHEAD  # the other 16 wait for a process to be ready
    for _ in range(10):  # the fast process reads ten documents while the slow one reads none
        dispatch.done(fast.handed()[-AHEAD])
    assert len(fast.sent) == AHEAD + 10 and len(slow.sent) == AHEAD
    dispatch.done(slow.handed()[0])
    assert len(slow.sent) == AHEAD + 1
    assert sorted(fast.handed() + slow.handed()) == list(range(len(fast.sent) + len(slow.sent)))  # in order


def test_every_document_is_handed_over_before_the_processes_are_closed():
    first, second = FakePandoc(), FakePandoc()
    dispatch = Dispatcher([first, second], total=10)
    for index in range(10):
        dispatch.add(index, 10)
    dispatch.finish()
    assert not first.closed and not second.closed  # six documents still wait
    while len(first.sent) + len(second.sent) < 10:
        for process in (first, second):
            for index in process.handed():
                dispatch.done(index)
    assert sorted(first.handed() + second.handed()) == list(range(10))
    assert first.closed == second.closed == 1
    dispatch.done(9)
    assert first.closed == second.closed == 1  # closed once


def test_the_last_documents_of_a_build_are_written_in_small_groups():
    processes = [FakePandoc(), FakePandoc()]
    total = 100
    dispatch = Dispatcher(processes, total=total)
    for index in range(total):
        dispatch.add(index, 10)
        for process in processes:
            for sent, _ in process.sent:
                dispatch.done(sent)
    groups = dict(sent for process in processes for sent in process.sent)
    tail = 2 * TAIL_GROUP * len(processes)
    assert all(groups[index] is None for index in range(total - tail))  # the usual group of DOCX_GROUP
    assert all(groups[index] == TAIL_GROUP for index in range(total - tail, total))


def test_the_documents_of_a_process_that_stopped_go_to_the_others_and_none_is_left_waiting():
    stops, goes_on = FakePandoc(), FakePandoc()
    dispatch = Dispatcher([stops, goes_on], total=12)
    for index in range(12):
        dispatch.add(index, 10)
    stops.process.code = 137
    dispatch.refill()  # what its reader thread says once it is over
    dispatch.done(goes_on.handed()[0])
    assert len(stops.sent) == AHEAD  # its two are reported failed by its reader (pandoc_adapter.Pandoc._read)
    assert len(goes_on.sent) == AHEAD + 1
    goes_on.process.code = 1  # the other stops too: every document is handed over all the same, to be failed
    dispatch.refill()
    dispatch.finish()
    assert sorted(stops.handed() + goes_on.handed()) == list(range(12))
    assert stops.closed == goes_on.closed == 1
