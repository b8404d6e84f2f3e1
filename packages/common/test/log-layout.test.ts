import { test } from "node:test";
import assert from "node:assert/strict";
import { Modality } from "@taj/proto";
import { parseTemplateSubject, partitionSubjectFilters, templateSubject } from "../src/index.ts";

test("partition filters: one per partition, every modality, sorted, no duplicates", () => {
  assert.deepEqual(partitionSubjectFilters([3, 0, 3, 12]), ["taj.tpl.*.0.>", "taj.tpl.*.3.>", "taj.tpl.*.12.>"]);
  assert.deepEqual(partitionSubjectFilters([]), []);
  assert.throws(() => partitionSubjectFilters([-1]), /non-negative integer/);
  assert.throws(() => partitionSubjectFilters([1.5]), /non-negative integer/);
});

test("partition filters: a partition's filter matches its subjects, of every modality, and no other partition's", () => {
  const [filter] = partitionSubjectFilters([7]);
  const matches = (subject: string) => {
    const f = filter!.split(".");
    const s = subject.split(".");
    return s.length > f.length - 1 && f.every((t, i) => t === ">" || t === "*" || t === s[i]);
  };
  for (const modality of [Modality.FACE, Modality.TATTOO, Modality.MARK]) {
    const subject = templateSubject(modality, 7, "abc");
    assert.equal(parseTemplateSubject(subject)?.partition, 7);
    assert.ok(matches(subject), subject);
    assert.ok(!matches(templateSubject(modality, 17, "abc")));
    assert.ok(!matches(templateSubject(modality, 70, "7")));
  }
});
