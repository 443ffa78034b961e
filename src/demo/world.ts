/**
 * The demo world: the vocabulary and the small grammar shared by the pretraining corpus (corpus.ts) and the
 * downstream task (task.ts).
 *
 * The world has people (a first name with a pronoun), jobs, towns, colors, objects (with plurals), places inside a
 * town, landmarks near a town, animals, times of day and the number words one..twelve. Every word is lowercase
 * ASCII except names and towns, which are capitalized. No word contains punctuation, so the task's answer format
 * (braces, quotes, colons) can never be produced by the grammar.
 *
 * A `Person` is drawn fresh for each passage or task row: a name together with a job, a home town and an owned
 * item (a color + an object). Facts therefore hold only inside one passage, so a model must read the passage to
 * know who is what; nothing can be memorized from the corpus as "the" job of Mira.
 *
 * The "card sentences" below state all four facts about a person in one sentence, in several word orders. They
 * appear inside corpus passages (so the pretrained model knows how to read them) and are the task's input.
 */

import { LoratuneError } from "../errors.ts";
import { Rng } from "../tensor/rng.ts";

/** A first name and the pronouns used for it in stories. */
export interface NameEntry {
  readonly name: string;
  readonly he: "he" | "she";
  readonly his: "his" | "her";
}

/** A countable object: singular and plural forms. */
export interface Noun {
  readonly one: string;
  readonly many: string;
}

const SHE = ["Mira", "Anna", "Lena", "Ivy", "Rosa", "Nora", "Tess", "Clara", "Elsa", "Maya", "Wren", "Hazel"];
const SHE_MORE = ["Iris", "Greta", "Olive", "Ada", "Lila", "June", "Petra", "Sofia", "Vera", "Daisy", "Ruth"];
const HE = ["Tomas", "Owen", "Felix", "Hugo", "Ivan", "Leo", "Bram", "Oscar", "Milo", "Silas", "Emil", "Jonah"];
const HE_MORE = ["Caleb", "Dario", "Finn", "Gideon", "Karl", "Marco", "Niko", "Pavel", "Rufus", "Theo", "Abel"];

/** 46 first names, half of each pronoun. */
export const NAMES: readonly NameEntry[] = [
  ...[...SHE, ...SHE_MORE].map((name): NameEntry => ({ name, he: "she", his: "her" })),
  ...[...HE, ...HE_MORE].map((name): NameEntry => ({ name, he: "he", his: "his" })),
];

/** Jobs: single lowercase words. */
export const JOBS: readonly string[] = [
  "baker",
  "smith",
  "farmer",
  "weaver",
  "potter",
  "miller",
  "tailor",
  "fisher",
  "hunter",
  "sailor",
  "painter",
  "carpenter",
  "doctor",
  "teacher",
  "singer",
  "guard",
  "merchant",
  "archer",
  "cook",
  "gardener",
  "builder",
  "shepherd",
  "brewer",
  "clerk",
];

/** Towns: single capitalized words. */
export const TOWNS: readonly string[] = [
  "Oakford",
  "Elmvale",
  "Brindle",
  "Stonebridge",
  "Ashby",
  "Millbrook",
  "Redwater",
  "Fernhill",
  "Kingsmoor",
  "Larkton",
  "Dunmere",
  "Pinecrest",
  "Westfold",
  "Harrow",
  "Saltmarsh",
  "Greyhaven",
  "Thornbury",
  "Copperfield",
  "Willowmere",
  "Rookwood",
  "Foxley",
  "Highgate",
  "Marlow",
  "Bellcross",
];

export const COLORS: readonly string[] = [
  "red",
  "blue",
  "green",
  "yellow",
  "black",
  "white",
  "orange",
  "purple",
  "brown",
  "grey",
  "silver",
  "golden",
];

const noun = (one: string, many = `${one}s`): Noun => ({ one, many });

/** Objects a person can own or carry. */
export const OBJECTS: readonly Noun[] = [
  noun("kettle"),
  noun("lamp"),
  noun("hat"),
  noun("cup"),
  noun("basket"),
  noun("boot"),
  noun("book"),
  noun("coat"),
  noun("drum"),
  noun("flute"),
  noun("ring"),
  noun("key"),
  noun("bell"),
  noun("rope"),
  noun("scarf"),
  noun("shield"),
  noun("wagon"),
  noun("umbrella"),
  noun("apple"),
  noun("candle"),
  noun("box", "boxes"),
  noun("brush", "brushes"),
  noun("knife", "knives"),
  noun("clock"),
  noun("kite"),
  noun("bottle"),
  noun("blanket"),
  noun("mirror"),
  noun("pot"),
  noun("sack"),
];

/** Places inside a town ("the market of Oakford"). */
export const PLACES: readonly string[] = [
  "market",
  "mill",
  "bridge",
  "tower",
  "harbor",
  "square",
  "inn",
  "bakery",
  "library",
  "garden",
  "well",
  "chapel",
];

/** Landmarks near a town ("Oakford lies near a river"). */
export const LANDMARKS: readonly string[] = ["river", "forest", "lake", "hill", "valley", "marsh", "cliff", "meadow"];

export const ANIMALS: readonly Noun[] = [
  noun("cat"),
  noun("dog"),
  noun("goat"),
  noun("horse"),
  noun("owl"),
  noun("crow"),
  noun("duck"),
  noun("pig"),
  noun("sheep", "sheep"),
  noun("fox", "foxes"),
];

export const TIMES: readonly string[] = ["morning", "evening", "afternoon", "night", "spring day", "winter day"];

/** Number words; index i is the word for i + 1. */
export const NUMBERS: readonly string[] = [
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
];

/**
 * The generator for one stream of the demo: the user's seed with a label mixed in (FNV-1a over the label), so
 * the corpus and the task drawn from one seed are independent. `seed` must be a safe integer; distinct seeds
 * give distinct streams (the label is XORed into the seed's 32-bit halves, which stays exact below 2^53).
 */
export function demoRng(seed: number, label: string): Rng {
  if (!Number.isSafeInteger(seed)) throw new LoratuneError("ERR_USAGE", `demo seed must be an integer, got ${seed}`);
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  const lo = (seed ^ h) >>> 0;
  const hi = (Math.floor(seed / 2 ** 32) ^ (h >>> 11)) & 0x1fffff;
  return new Rng(hi * 2 ** 32 + lo);
}

/** Uniform choice from a non-empty list. */
export function pick<T>(rng: Rng, list: readonly T[]): T {
  return list[rng.nextInt(list.length)]!;
}

/** Uniform choice from `list` that differs from `avoid` (list must hold at least two values). */
export function pickOther<T>(rng: Rng, list: readonly T[], avoid: T): T {
  for (;;) {
    const v = pick(rng, list);
    if (v !== avoid) return v;
  }
}

/** "a" or "an" followed by the phrase: an orange kettle, a red apple. */
export function article(phrase: string): string {
  return /^[aeiou]/.test(phrase) ? `an ${phrase}` : `a ${phrase}`;
}

/** "one red cup", "three red cups". */
export function counted(n: number, color: string, obj: Noun): string {
  return `${NUMBERS[n - 1]} ${color} ${n === 1 ? obj.one : obj.many}`;
}

export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A person as drawn for one passage or one task row. `item` is "<color> <object>", e.g. "red kettle". */
export interface Person {
  readonly name: string;
  readonly he: "he" | "she";
  readonly his: "his" | "her";
  readonly job: string;
  readonly town: string;
  readonly color: string;
  readonly object: Noun;
  readonly item: string;
}

/** Draws a person; `avoidName` keeps two people of one passage apart. */
export function drawPerson(rng: Rng, avoidName?: string): Person {
  let entry = pick(rng, NAMES);
  while (entry.name === avoidName) entry = pick(rng, NAMES);
  const color = pick(rng, COLORS);
  const object = pick(rng, OBJECTS);
  return {
    name: entry.name,
    he: entry.he,
    his: entry.his,
    job: pick(rng, JOBS),
    town: pick(rng, TOWNS),
    color,
    object,
    item: `${color} ${object.one}`,
  };
}

/**
 * Card sentences: one sentence stating a person's name, job, town and item. Index = template id. All templates
 * are used by the corpus and by the task, so the task's *input* is familiar to the base model.
 */
export const CARD_TEMPLATES: readonly ((p: Person) => string)[] = [
  (p) => `${p.name} the ${p.job} lives in ${p.town} and owns ${article(p.item)}.`,
  (p) => `In ${p.town}, ${p.name} the ${p.job} keeps ${article(p.item)}.`,
  (p) => `${p.name}, ${article(p.job)} from ${p.town}, has ${article(p.item)}.`,
  (p) => `The ${p.item} belongs to ${p.name}, the ${p.job} of ${p.town}.`,
  (p) => `${capitalize(article(p.job))} named ${p.name} lives in ${p.town} with ${article(p.item)}.`,
];

/** A card sentence for the person with a random template. */
export function cardSentence(rng: Rng, p: Person): string {
  return pick(rng, CARD_TEMPLATES)(p);
}
