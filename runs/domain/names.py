"""Readable random run names such as "amber-otter", for runs created without a name."""

import secrets

ADJECTIVES = (
    "amber azure brave bright calm clever cosmic crimson curious daring dusty eager electric emerald fearless "
    "fuzzy gentle golden hidden humble icy jolly keen lively lucky mellow misty nimble noble olive patient "
    "proud quiet rapid rustic scarlet shiny silent silver smooth snowy solar spicy steady stormy sunny swift "
    "tidy tranquil vivid wandering warm wild witty zealous"
).split()
ANIMALS = (
    "albatross alpaca antelope badger beaver bison bobcat caribou cheetah condor coyote crane dingo dolphin "
    "eagle falcon ferret finch gazelle gecko heron hedgehog ibis jackal jaguar kestrel koala lemur leopard "
    "lynx marmot mole moose narwhal ocelot orca osprey otter panther pelican penguin puffin quail raccoon "
    "raven salamander seal sparrow stork tapir tiger toucan turtle vulture walrus weasel wombat yak zebra"
).split()


def random_run_name() -> str:
    return f"{secrets.choice(ADJECTIVES)}-{secrets.choice(ANIMALS)}"
