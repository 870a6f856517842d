from dataclasses import dataclass

from runs.domain.errors import InvalidInput


@dataclass
class Pager:
    page: int
    page_size: int
    total: int = 0

    @classmethod
    def from_request(cls, request, *, page_size: int) -> "Pager":
        try:
            page = int(request.GET.get("page") or 1)
        except ValueError:
            raise InvalidInput("Page must be a number.") from None
        if page < 1:
            raise InvalidInput("Page must be 1 or more.")
        return cls(page=page, page_size=page_size)

    @property
    def window(self) -> slice:
        start = (self.page - 1) * self.page_size
        return slice(start, start + self.page_size)

    def with_total(self, total: int) -> "Pager":
        self.total = total
        return self

    @property
    def pages(self) -> int:
        return max((self.total + self.page_size - 1) // self.page_size, 1)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_item(self) -> int:
        return min((self.page - 1) * self.page_size + 1, self.total)

    @property
    def last_item(self) -> int:
        return min(self.page * self.page_size, self.total)
