class Stack:
    def __init__(self):
        self._items = []

    def push(self, item):
        self._items.append(item)

    def pop(self):
        return self._items.pop()

    def peek(self):
        return self._items[-1]


if __name__ == "__main__":
    s = Stack()
    s.push(1)
    s.push(2)
    assert s.peek() == 2 and s.pop() == 2 and s.pop() == 1
    print("ok")
